{#- The n-th (0-based) element of a JSON array as text: dlt stores a list of lists (opening-hour
    pairs) as JSON, `json` in DuckDB and `jsonb` in Postgres. -#}
{% macro json_array_text(column, index) -%}
    {{ return(adapter.dispatch('json_array_text', 'wirelane')(column, index)) }}
{%- endmacro %}
{% macro default__json_array_text(column, index) -%}
    (cast({{ column }} as jsonb) ->> {{ index }})
{%- endmacro %}
{% macro duckdb__json_array_text(column, index) -%}
    json_extract_string({{ column }}, '$[{{ index }}]')
{%- endmacro %}
