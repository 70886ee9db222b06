{#- Wall-clock time of a UTC instant in an IANA zone (`Europe/Berlin`), as a timestamp without
    zone: both DuckDB (ICU) and Postgres read `AT TIME ZONE` on a timestamptz this way. -#}
{% macro local_time(instant, zone) -%}
    ({{ instant }} at time zone {{ zone }})
{%- endmacro %}
