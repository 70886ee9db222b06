{#- Rows for which a boolean SQL expression does not hold (nulls pass). -#}
{% test expression_is_true(model, expression) %}
    select * from {{ model }} where not ({{ expression }})
{% endtest %}
