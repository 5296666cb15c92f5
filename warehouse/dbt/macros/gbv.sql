{# Small cross-database helpers (DuckDB and PostgreSQL share this SQL). #}

{% macro gbv_median(expr) -%}
  percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro gbv_ratio(numerator, denominator) -%}
  (cast({{ numerator }} as {{ dbt.type_float() }}) / nullif(cast({{ denominator }} as {{ dbt.type_float() }}), 0))
{%- endmacro %}

{% macro gbv_quarter_start(date_expr) -%}
  cast({{ dbt.date_trunc('quarter', date_expr) }} as date)
{%- endmacro %}

{% macro gbv_quarter_label(date_expr) -%}
  {{ dbt.concat([dbt.cast("cast(extract(year from " ~ date_expr ~ ") as integer)", dbt.type_string()), "'-Q'",
                 dbt.cast("cast(extract(quarter from " ~ date_expr ~ ") as integer)", dbt.type_string())]) }}
{%- endmacro %}

{% macro gbv_region(city_expr) -%}
  coalesce((select r.region from {{ ref('sale_regions') }} r where r.city = lower(trim({{ city_expr }}))), 'other')
{%- endmacro %}
