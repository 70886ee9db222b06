{#- A source table that dlt creates only once some record has the nested list it holds (opening
    hours, restrictions, blocked reasons...). When it does not exist yet, an empty relation with
    the same columns stands in, so the models build on any organization's data.
    `columns` maps each column name to its SQL type. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and load_relation(relation) is none -%}
        select
        {%- for name, type in columns.items() %}
            cast(null as {{ type }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
        {%- endfor %}
        where 1 = 0
    {%- else -%}
        select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}
