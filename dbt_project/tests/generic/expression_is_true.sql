{#- Rows for which a boolean SQL expression does not hold (nulls pass). On a column, the
    expression continues the column's name: `expression: "between 0 and 23"`. -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select * from {{ model }} where not ({{ column_name ~ ' ' if column_name }}{{ expression }})
{% endtest %}
