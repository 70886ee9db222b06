{#- Rows where a numeric column is below zero (kWh, money, durations). -#}
{% test not_negative(model, column_name) %}
    select * from {{ model }} where {{ column_name }} < 0
{% endtest %}
