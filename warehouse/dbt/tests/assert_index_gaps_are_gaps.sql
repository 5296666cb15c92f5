-- A gap has no index value and an estimate is never a gap: nothing interpolated, nothing missing.
select index_row_id, is_gap, index_value
from {{ ref('mart_price_index') }}
where (is_gap and (index_value is not null or ci90_low is not null or ci90_high is not null))
   or (not is_gap and index_value is null)
