{#- Integer helpers for exact money arithmetic, as the billing engine does it (integer cents,
    prices in 1/10,000 of the currency, half-up rounding). -#}

{% macro int_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('int_div', 'wirelane')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__int_div(numerator, denominator) -%}
    (cast({{ numerator }} as bigint) / cast({{ denominator }} as bigint))
{%- endmacro %}
{% macro duckdb__int_div(numerator, denominator) -%}
    (cast({{ numerator }} as bigint) // cast({{ denominator }} as bigint))
{%- endmacro %}

{% macro round_half_up_div(numerator, denominator) -%}
    {{ int_div('(' ~ numerator ~ ') + ' ~ (denominator // 2), denominator) }}
{%- endmacro %}

{#- A quantity rounded to a step by UP / DOWN / EXACT. -#}
{% macro round_to_step(quantity, step, mode) -%}
    case
        when {{ mode }} = 'UP' and {{ step }} > 1 then {{ int_div('(' ~ quantity ~ ') + ' ~ step ~ ' - 1', step) }} * {{ step }}
        when {{ mode }} = 'DOWN' and {{ step }} > 1 then {{ int_div(quantity, step) }} * {{ step }}
        else {{ quantity }}
    end
{%- endmacro %}

{#- Whether a JSON list column contains a string. -#}
{% macro json_list_contains(column, value) -%}
    {{ return(adapter.dispatch('json_list_contains', 'wirelane')(column, value)) }}
{%- endmacro %}
{% macro default__json_list_contains(column, value) -%}
    (cast({{ column }} as jsonb) @> jsonb_build_array({{ value }}))
{%- endmacro %}
{% macro duckdb__json_list_contains(column, value) -%}
    json_contains({{ column }}, to_json({{ value }}))
{%- endmacro %}

{#- numerator / denominator rounded half-up to a whole number, for integer SQL expressions
    (numerator >= 0, denominator > 0); `round_half_up_div` takes a constant denominator. -#}
{% macro round_half_up_ratio(numerator, denominator) -%}
    {{ int_div('2 * (' ~ numerator ~ ') + (' ~ denominator ~ ')', '2 * (' ~ denominator ~ ')') }}
{%- endmacro %}

{#- A non-negative ratio rounded half-up to `scale` decimals, identical on DuckDB and Postgres:
    DuckDB divides decimals in floating point, so a value on a rounding boundary (16.885) could
    round differently. Both sides are exact decimals of at most `input_scale` decimals; empty
    when the denominator is not positive. -#}
{% macro exact_ratio(numerator, denominator, scale, input_scale=0) -%}
    {%- set n = 'cast(round((' ~ numerator ~ ') * ' ~ (10 ** input_scale) ~ ') as bigint)' -%}
    {%- set d = 'cast(round((' ~ denominator ~ ') * ' ~ (10 ** input_scale) ~ ') as bigint)' -%}
    case when ({{ denominator }}) > 0 then
        cast({{ round_half_up_ratio(n ~ ' * ' ~ (10 ** scale), d) }} as numeric(38, {{ scale }})) / {{ 10 ** scale }}
    end
{%- endmacro %}
