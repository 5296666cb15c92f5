{{ config(materialized='view') }}
{#- The most recent valuation of every lot with its lot, sale and artist. Replaces the view of the same name
    that warehouse/marts.py creates on a fresh warehouse (same columns first, more after). -#}
with latest as (
    select lot_ref, max(run_date) as run_date
    from {{ source('warehouse', 'fact_valuation') }}
    group by lot_ref
)

select
    v.run_date, v.lot_ref, v.house, s.auction_house, s.sale_id, s.sale_date, s.sale_location,
    a.artist_name, w.title, w.medium_class, v.estimate_usd, v.low_usd, v.high_usd,
    v.expert_value_usd, v.confidence, v.model_version, v.comparables, v.explanation,
    f.estimate_low_usd as house_low_usd, f.estimate_high_usd as house_high_usd, f.status,
    f.artist_id,
    {{ gbv_region('s.sale_location') }} as sale_region,
    case when f.estimate_low_usd > 0 and f.estimate_high_usd > 0 and v.estimate_usd > 0
         then ln(v.estimate_usd / sqrt(f.estimate_low_usd * f.estimate_high_usd)) end as model_vs_house_log
from {{ source('warehouse', 'fact_valuation') }} v
inner join latest on latest.lot_ref = v.lot_ref and latest.run_date = v.run_date
inner join {{ source('warehouse', 'fact_lot') }} f on f.lot_ref = v.lot_ref
inner join {{ source('warehouse', 'dim_sale') }} s on s.sale_id = f.sale_id
inner join {{ source('warehouse', 'dim_artist') }} a on a.artist_id = f.artist_id
inner join {{ source('warehouse', 'dim_artwork') }} w on w.artwork_id = f.artwork_id
