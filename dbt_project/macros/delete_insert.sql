{#- delete+insert on DuckDB, as dbt does it on every other adapter: the old rows go by a
    semi-join with the distinct keys of the new ones.

    Why: dbt-duckdb deletes on a key of several columns with `delete ... using <new rows>`, a
    join of every old row to every new row sharing its key. Where the key names a partition
    (mart_utilization_hour_of_day replaces station months, 84 to 168 new rows each), that join
    is 100 times the rows it deletes: 0.18 s against 0.03 s at 1,000,000 sessions. On a key that
    is unique in the new rows the two are the same. -#}
{% macro duckdb__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {{ dbt.default__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) }}
{%- endmacro %}
