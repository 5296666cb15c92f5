{{ config(materialized='view') }}
{#- Lots valued before their sale and since sold: the model's and the house's log errors (USD, hammer basis).
    Replaces the view of the same name from warehouse/marts.py (same columns first, more after). -#}
select
    v.run_date, v.lot_ref, v.house, f.sale_date, w.medium_class, v.model_version,
    f.hammer_usd, v.estimate_usd,
    ln(v.estimate_usd / f.hammer_usd) as model_log_error,
    ln(sqrt(f.estimate_low_usd * f.estimate_high_usd) / f.hammer_usd) as house_log_error,
    case when f.hammer_usd between v.low_usd and v.high_usd then 1 else 0 end as in_range,
    {{ dbt.concat(["v.lot_ref", "'|'", dbt.cast("v.run_date", dbt.type_string())]) }} as valuation_id,
    {{ gbv_quarter_label('f.sale_date') }} as sale_quarter,
    {{ gbv_region('s.sale_location') }} as sale_region,
    case
        when f.estimate_low_usd > 0 and f.estimate_high_usd > 0 then
            case
                when sqrt(f.estimate_low_usd * f.estimate_high_usd) <= 10000 then 'under_10k'
                when sqrt(f.estimate_low_usd * f.estimate_high_usd) <= 100000 then '10k_to_100k'
                when sqrt(f.estimate_low_usd * f.estimate_high_usd) <= 1000000 then '100k_to_1m'
                else 'over_1m'
            end
        else 'unknown'
    end as price_tier
from {{ source('warehouse', 'fact_valuation') }} v
inner join {{ source('warehouse', 'fact_lot') }} f on f.lot_ref = v.lot_ref
inner join {{ source('warehouse', 'dim_artwork') }} w on w.artwork_id = f.artwork_id
inner join {{ source('warehouse', 'dim_sale') }} s on s.sale_id = f.sale_id
where f.status = 'sold' and f.hammer_usd > 0 and v.estimate_usd > 0 and v.run_date <= f.sale_date
