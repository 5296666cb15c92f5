{#- Model and house errors over time per house and segment (medium class, sale region, price tier), from lots
    valued before their sale that then sold (the latest valuation before the sale counts once per lot). -#}
with last_before_sale as (
    select a.*
    from {{ ref('mart_valuation_accuracy') }} a
    inner join (
        select lot_ref, max(run_date) as run_date
        from {{ ref('mart_valuation_accuracy') }}
        group by lot_ref
    ) m on m.lot_ref = a.lot_ref and m.run_date = a.run_date
),

segmented as (
    select house, sale_quarter, 'all' as segment_type, 'all' as segment, lot_ref, model_log_error,
           house_log_error, in_range from last_before_sale
    union all
    select house, sale_quarter, 'medium_class', coalesce(medium_class, 'unknown'), lot_ref, model_log_error,
           house_log_error, in_range from last_before_sale
    union all
    select house, sale_quarter, 'region', sale_region, lot_ref, model_log_error, house_log_error, in_range
    from last_before_sale
    union all
    select house, sale_quarter, 'price_tier', price_tier, lot_ref, model_log_error, house_log_error, in_range
    from last_before_sale
)

select
    {{ dbt.concat(["house", "'|'", "sale_quarter", "'|'", "segment_type", "'|'", "segment"]) }} as accuracy_row_id,
    house,
    sale_quarter,
    segment_type,
    segment,
    count(*) as lots,
    {{ gbv_median('abs(model_log_error)') }} as model_median_abs_log_error,
    {{ gbv_median('abs(house_log_error)') }} as house_median_abs_log_error,
    avg(model_log_error) as model_mean_log_error,
    avg(house_log_error) as house_mean_log_error,
    avg(cast(in_range as {{ dbt.type_float() }})) as model_interval_coverage
from segmented
group by house, sale_quarter, segment_type, segment
