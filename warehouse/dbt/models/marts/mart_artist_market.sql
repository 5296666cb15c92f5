{#- Per artist and quarter: supply, sell-through, turnover, prices against estimates, momentum, house vs model. -#}
with lots as (
    select
        f.lot_ref,
        f.artist_id,
        f.status,
        f.hammer_usd,
        f.estimate_low_usd,
        f.estimate_high_usd,
        {{ gbv_quarter_start('f.sale_date') }} as period_start
    from {{ source('warehouse', 'fact_lot') }} f
    where f.status in ('sold', 'bought_in', 'upcoming')
),

latest_valuation as (
    select v.lot_ref, v.estimate_usd
    from {{ source('warehouse', 'fact_valuation') }} v
    inner join (
        select lot_ref, max(run_date) as run_date
        from {{ source('warehouse', 'fact_valuation') }}
        group by lot_ref
    ) latest on latest.lot_ref = v.lot_ref and latest.run_date = v.run_date
    where v.estimate_usd > 0
),

per_lot as (
    select
        lots.*,
        case when lots.estimate_low_usd > 0 and lots.estimate_high_usd > 0 and lv.estimate_usd > 0
             then ln(sqrt(lots.estimate_low_usd * lots.estimate_high_usd) / lv.estimate_usd) end
            as house_vs_model_log
    from lots
    left join latest_valuation lv on lv.lot_ref = lots.lot_ref
),

per_quarter as (
    select
        artist_id,
        period_start,
        sum(case when status in ('sold', 'bought_in') then 1 else 0 end) as lots_offered,
        sum(case when status = 'sold' then 1 else 0 end) as lots_sold,
        sum(case when status = 'upcoming' then 1 else 0 end) as lots_upcoming,
        sum(case when status = 'sold' then hammer_usd else 0 end) as turnover_usd,
        sum(case when status = 'sold' and estimate_high_usd > 0 then 1 else 0 end) as sold_with_estimate,
        sum(case when status = 'sold' and estimate_high_usd > 0 and hammer_usd > estimate_high_usd
                 then 1 else 0 end) as sold_above_high,
        sum(case when status = 'sold' and estimate_low_usd > 0 and hammer_usd < estimate_low_usd
                 then 1 else 0 end) as sold_below_low,
        sum(case when house_vs_model_log is not null then 1 else 0 end) as lots_with_both_estimates
    from per_lot
    group by artist_id, period_start
),

medians as (
    select artist_id, period_start, {{ gbv_median('hammer_usd') }} as median_price_usd
    from per_lot
    where status = 'sold' and hammer_usd > 0
    group by artist_id, period_start
),

estimate_gap as (
    select artist_id, period_start, {{ gbv_median('house_vs_model_log') }} as house_vs_model_log_median
    from per_lot
    where house_vs_model_log is not null
    group by artist_id, period_start
),

levels as (
    select artist_id, period_start, log_level, log_level_se, n_sales
    from {{ source('warehouse', 'fact_artist_price_level') }}
),

market as (
    select period_start, log_index, log_index_se
    from {{ source('warehouse', 'fact_price_index') }}
    where index_kind = 'hedonic' and frequency = 'quarter' and segment_type = 'all' and not is_gap
),

momentum as (
    select
        cur.artist_id,
        cur.period_start,
        cur.log_level - prev.log_level as momentum_log,
        sqrt(cur.log_level_se * cur.log_level_se + prev.log_level_se * prev.log_level_se) as momentum_log_se,
        m_cur.log_index - m_prev.log_index as market_change_log
    from levels cur
    inner join levels prev
        on prev.artist_id = cur.artist_id
        and prev.period_start = cast({{ dbt.dateadd('month', -3, 'cur.period_start') }} as date)
    left join market m_cur on m_cur.period_start = cur.period_start
    left join market m_prev on m_prev.period_start = prev.period_start
)

select
    {{ dbt.concat(["q.artist_id", "'|'", gbv_quarter_label('q.period_start')]) }} as artist_period_id,
    q.artist_id,
    a.artist_name,
    {{ gbv_quarter_label('q.period_start') }} as period,
    q.period_start,
    q.lots_offered,
    q.lots_sold,
    q.lots_upcoming,
    {{ gbv_ratio('q.lots_sold', 'q.lots_offered') }} as sell_through_rate,
    q.turnover_usd,
    md.median_price_usd,
    {{ gbv_ratio('q.sold_above_high', 'q.sold_with_estimate') }} as share_sold_above_high,
    {{ gbv_ratio('q.sold_below_low', 'q.sold_with_estimate') }} as share_sold_below_low,
    mo.momentum_log,
    mo.momentum_log_se,
    mo.momentum_log - 1.6448536 * mo.momentum_log_se as momentum_log_ci90_low,
    mo.momentum_log + 1.6448536 * mo.momentum_log_se as momentum_log_ci90_high,
    mo.market_change_log,
    mo.momentum_log - mo.market_change_log as momentum_vs_market_log,
    q.lots_with_both_estimates,
    eg.house_vs_model_log_median
from per_quarter q
inner join {{ source('warehouse', 'dim_artist') }} a on a.artist_id = q.artist_id
left join medians md on md.artist_id = q.artist_id and md.period_start = q.period_start
left join estimate_gap eg on eg.artist_id = q.artist_id and eg.period_start = q.period_start
left join momentum mo on mo.artist_id = q.artist_id and mo.period_start = q.period_start
