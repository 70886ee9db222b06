{#- dbt's hook for a test's `where` config, with one placeholder of our own:
    `where: __rows_built_this_run__` checks only the rows this `dbt build` wrote (`built_at`).

    Why that is enough: the placeholder goes only on row-wise tests and on uniqueness of the
    model's own incremental key. Rows an incremental build does not write were checked by the
    build that wrote them and have not changed since; delete+insert (and replace_tail) removes
    every old row sharing a key with the new ones, so new rows that are unique among themselves
    keep the whole table unique. A full build writes every row, so it checks them all.

    The scope applies only when this invocation is a `dbt build` that selected the tested model
    (it ran just before its tests); `dbt test`, or a build that did not select the model, checks
    every row. Any other `where` behaves as in dbt. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__rows_built_this_run__' -%}
        {#- `model` is the test here; what it depends on is the model it tests -#}
        {%- set tested_model_ran = model.depends_on.nodes | select('in', selected_resources) | list -%}
        {%- if flags.WHICH == 'build' and tested_model_ran -%}
            {%- do return('(select * from ' ~ relation ~ ' where built_at = ' ~ build_timestamp() ~ ') dbt_subquery') -%}
        {%- endif -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- do return(dbt.default__get_where_subquery(relation)) -%}
{%- endmacro %}
