-- The 90% band holds the index, and every series is exactly 100 at its base period.
select index_row_id, index_value, ci90_low, ci90_high
from {{ ref('mart_price_index') }}
where not is_gap
  and (ci90_low > index_value + 1e-9 or ci90_high < index_value - 1e-9
       or (period = base_period and abs(index_value - 100) > 1e-6))
