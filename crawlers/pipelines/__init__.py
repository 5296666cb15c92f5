"""Item pipelines, one class per file: ``validate`` (schema check, invalid items become rejects) then
``landing`` (the immutable raw landing zone)."""
