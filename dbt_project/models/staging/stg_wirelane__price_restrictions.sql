with

source as (

    {{ source_or_empty('wirelane', 'price_models__elements__restrictions', {
        'start_time': 'text', 'end_time': 'text', 'day_of_week': 'text', 'min_duration': 'bigint',
        'max_duration': 'bigint', '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}

),

renamed as (

    select
        _dlt_parent_id as element_id,
        _dlt_list_idx as position,
        start_time,
        end_time,
        day_of_week as days_of_week,
        min_duration as min_duration_s,
        max_duration as max_duration_s

    from source

)

select * from renamed
