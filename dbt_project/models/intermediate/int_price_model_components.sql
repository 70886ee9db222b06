with

price_models as (

    select * from {{ source('wirelane', 'price_models') }}
    where _dlt_valid_to is null

),

settings as (

    select * from {{ ref('int_price_model_settings') }}

),

elements as (

    select * from {{ source('wirelane', 'price_models__elements') }}

),

components as (

    select * from {{ source('wirelane', 'price_models__elements__price_components') }}

),

restrictions as (

    -- all entries of an element's restriction array hold together: one row per element
    select
        _dlt_parent_id as element_dlt_id,
        max(start_time) as start_time,
        max(end_time) as end_time,
        max(cast(day_of_week as text)) as day_of_week,
        max(min_duration) as min_duration,
        max(max_duration) as max_duration
    from {{ source('wirelane', 'price_models__elements__restrictions') }}
    group by 1

),

flattened as (

    select
        settings.price_id,
        settings.free,
        settings.rounding_mode_energy,
        settings.rounding_mode_time,
        elements._dlt_list_idx as element_order,
        components.type as dimension,
        cast(round(components.price * 10000) as bigint) as price_ticks,
        coalesce(components.step_size, 1) as step_size,
        -- local time-of-day window in minutes; an end of 00:00 means the end of the day
        case
            when restrictions.start_time is not null or restrictions.end_time is not null
                then coalesce(
                    cast(substr(restrictions.start_time, 1, 2) as integer) * 60
                    + cast(substr(restrictions.start_time, 4, 2) as integer),
                    0
                )
        end as start_minute,
        coalesce(nullif(
            cast(substr(restrictions.end_time, 1, 2) as integer) * 60 + cast(substr(restrictions.end_time, 4, 2) as integer), 0
        ), 1440) as end_minute,
        restrictions.day_of_week,
        restrictions.min_duration,
        restrictions.max_duration

    from price_models
    inner join settings on settings.price_id = price_models.price_id
    inner join elements on elements._dlt_parent_id = price_models._dlt_id
    inner join components on components._dlt_parent_id = elements._dlt_id
    left join restrictions on restrictions.element_dlt_id = elements._dlt_id

)

select * from flattened
