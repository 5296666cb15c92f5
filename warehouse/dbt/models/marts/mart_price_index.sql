{#- The price indices computed by gbv.market.index, one row per series and period. Gaps stay gaps: the change
    against the previous period is null when either period is a gap (lag over the full period range). -#}
with idx as (
    select * from {{ source('warehouse', 'fact_price_index') }}
)

select
    {{ dbt.concat(["index_kind", "'|'", "frequency", "'|'", "segment_type", "'|'", "segment", "'|'", "period"]) }}
        as index_row_id,
    index_kind,
    frequency,
    segment_type,
    segment,
    period,
    period_start,
    is_gap,
    gap_reason,
    index_value,
    ci90_low,
    ci90_high,
    log_index,
    log_index_se,
    n_obs,
    base_period,
    index_value / lag(index_value) over (
        partition by index_kind, frequency, segment_type, segment order by period_start
    ) - 1 as change_vs_previous,
    run_date as computed_on
from idx
