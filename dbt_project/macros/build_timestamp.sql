{#- The start of this dbt invocation as a timestamptz, the same in every model it builds. Rows a
    build writes carry it (`built_at`): the models above an incremental model find what a later
    build rewrote, and the tests of a build check the rows it wrote. -#}
{% macro build_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamp with time zone)
{%- endmacro %}

{#- The earliest instant: "newer than anything built" when nothing is. -#}
{% macro epoch_timestamp() -%}
    cast('1970-01-01 00:00:00+00' as timestamp with time zone)
{%- endmacro %}

{#- The newest `column` in `relation` (a model's own table, in an incremental build), or
    `otherwise` when the table is empty or was built by a version without the column: then it
    holds nothing newer than anything, and every upstream row counts as new. -#}
{% macro newest_value(relation, column, otherwise) -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- if column in columns -%}
        coalesce((select max({{ column }}) from {{ relation }}), {{ otherwise }})
    {%- else -%}
        {{ otherwise }}
    {%- endif -%}
{%- endmacro %}

{#- The newest `built_at` in `relation`: rows upstream written after it are new to it. -#}
{% macro last_built_at(relation) -%}
    {{ newest_value(relation, 'built_at', epoch_timestamp()) }}
{%- endmacro %}
