{#- One row per UTC hour in [first_hour, last_hour] (both truncated to the hour), as column
    `hour_start`, for every row of `relation`; `relation` must hold both columns. Hours are UTC
    instants, so the 23- and 25-hour local days of DST changes come out right. -#}
{% macro hour_series(relation, first_hour, last_hour) -%}
    {{ return(adapter.dispatch('hour_series', 'wirelane')(relation, first_hour, last_hour)) }}
{%- endmacro %}
{% macro default__hour_series(relation, first_hour, last_hour) -%}
    select {{ relation }}.*, generate_series({{ first_hour }}, {{ last_hour }}, interval '1 hour') as hour_start
    from {{ relation }}
{%- endmacro %}
{% macro duckdb__hour_series(relation, first_hour, last_hour) -%}
    select {{ relation }}.*, unnest(generate_series({{ first_hour }}, {{ last_hour }}, interval '1 hour')) as hour_start
    from {{ relation }}
{%- endmacro %}

{#- Seconds two half-open instant ranges [a_start, a_end) and [b_start, b_end) share. -#}
{% macro overlap_seconds(a_start, a_end, b_start, b_end) -%}
    greatest(0, {{ seconds_between('greatest(' ~ a_start ~ ', ' ~ b_start ~ ')', 'least(' ~ a_end ~ ', ' ~ b_end ~ ')') }})
{%- endmacro %}
