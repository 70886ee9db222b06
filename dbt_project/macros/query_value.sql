{#- The single value `sql` returns, queried while dbt compiles the model (after its parents were
    built in this invocation), rendered as a SQL literal of type `type`; `null` when the query
    returns no row or a null, and when dbt only parses. The value goes in as quoted text (its
    quotes doubled), so any type with a text form works: dates, timestamps, numbers.

    Why a literal rather than the subquery itself: a constant comparison is a filter the scan
    applies, column by column, before any join (DuckDB also skips row groups by their min/max);
    a comparison with a subquery is a join over every row. At 1,000,000 sessions, after an hour
    of new data, mart_utilization_hour_of_day's incremental build took 0.54 to 0.59 s with its
    bound as a literal, 1.26 to 1.30 s without a bound (a bound as a subquery read the same
    table in 4 s instead of 1). -#}
{% macro query_value(sql, type) -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set rows = run_query(sql).rows -%}
        {%- if rows | length > 0 -%}{%- set value = rows[0][0] -%}{%- endif -%}
    {%- endif -%}
    {%- if value is none -%}
        cast(null as {{ type }})
    {%- else -%}
        cast('{{ value | string | replace("'", "''") }}' as {{ type }})
    {%- endif -%}
{%- endmacro %}
