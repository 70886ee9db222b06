{#- dbt's view materialization, except that a view already holding the SQL this build compiled
    is kept as it is, not replaced.

    Why: a scheduled build changes data, not code, and replacing a view changes nothing then,
    yet costs four statements and a commit per view, on the build's critical path (every
    staging model is a view). A view carries the fingerprint of the SQL and dbt version that
    created it in its comment. A view whose fingerprint differs, a view without one, a full
    refresh, models with hooks, grants or persisted docs (which write comments of their own),
    and adapters other than DuckDB and Postgres all take dbt's materialization unchanged.

    Why the SQL is enough: a view's columns come from its SQL and the tables it reads. DuckDB
    binds a view again on every query; Postgres refuses to change a column a view uses, and
    dropping a table drops its views (then there is nothing to keep). -#}
{% materialization view, default %}
    {%- set plain = adapter.type() in ('duckdb', 'postgres') and not (
            pre_hooks or post_hooks or config.get('grants')
            or config.persist_relation_docs() or config.persist_column_docs()) -%}
    {%- set fingerprint = 'dbt view ' ~ local_md5(dbt_version ~ '\n' ~ sql) -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- if plain and not should_full_refresh() and existing is not none and existing.is_view -%}
        {#- dbt wants a statement named main from every model: here, reading the fingerprint -#}
        {%- call statement('main', fetch_result=True) -%}
            {{ view_fingerprint_sql(existing) }}
        {%- endcall -%}
        {%- set stored = load_result('main').table.rows -%}
        {%- if stored | length and stored[0][0] == fingerprint -%}
            {{ log('kept ' ~ this ~ ': its SQL is unchanged') }}
            {{ return({'relations': [this.incorporate(type='view')]}) }}
        {%- endif -%}
    {%- endif -%}
    {%- set relations = dbt.materialization_view_default() -%}
    {%- if plain -%}
        {% call statement('view_fingerprint') -%}
            comment on view {{ this }} is '{{ fingerprint }}'
        {%- endcall %}
        {% do adapter.commit() %}
    {%- endif -%}
    {{ return(relations) }}
{% endmaterialization %}

{#- A query for a view's comment: one row. -#}
{% macro view_fingerprint_sql(relation) -%}
    {{ return(adapter.dispatch('view_fingerprint_sql')(relation)) }}
{%- endmacro %}

{% macro duckdb__view_fingerprint_sql(relation) -%}
    select comment from duckdb_views()
    where database_name = {{ dbt.string_literal(relation.database) }}
        and schema_name = {{ dbt.string_literal(relation.schema) }}
        and view_name = {{ dbt.string_literal(relation.identifier) }}
{%- endmacro %}

{% macro postgres__view_fingerprint_sql(relation) -%}
    select obj_description(to_regclass({{ dbt.string_literal(relation.include(database=false).render()) }}), 'pg_class') as comment
{%- endmacro %}
