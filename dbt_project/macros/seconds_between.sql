{#- Seconds from one timestamptz to another; DuckDB and Postgres both extract the epoch of an interval. -#}
{% macro seconds_between(start, finish) -%}
    extract(epoch from ({{ finish }} - {{ start }}))
{%- endmacro %}
