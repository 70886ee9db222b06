{#- The start of this dbt invocation as a timestamptz, the same in every model it builds: rows
    a build wrote carry it, so the models above can find what a later build rewrote. -#}
{% macro build_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamp with time zone)
{%- endmacro %}

{#- The earliest instant, for "newer than anything built" when nothing is built yet. -#}
{% macro epoch_timestamp() -%}
    cast('1970-01-01 00:00:00+00' as timestamp with time zone)
{%- endmacro %}
