-- Sell-through and shares are fractions; no more lots sold than offered.
select artist_period_id
from {{ ref('mart_artist_market') }}
where lots_sold > lots_offered
   or sell_through_rate < 0 or sell_through_rate > 1
   or share_sold_above_high < 0 or share_sold_above_high > 1
   or share_sold_below_low < 0 or share_sold_below_low > 1
   or share_sold_above_high + share_sold_below_low > 1
