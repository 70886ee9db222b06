with

settings as (

    select * from {{ ref('int_price_model_settings') }}

),

elements as (

    select * from {{ ref('stg_wirelane__price_model_elements') }}

),

components as (

    select * from {{ ref('stg_wirelane__price_components') }}

),

restrictions_per_element as (

    -- all entries of an element's restriction array hold together: one row per element
    select
        element_id,
        max(start_time) as start_time,
        max(end_time) as end_time,
        max(cast(days_of_week as text)) as day_of_week,
        max(min_duration_s) as min_duration,
        max(max_duration_s) as max_duration
    from {{ ref('stg_wirelane__price_restrictions') }}
    group by 1

),

flattened as (

    select
        settings.price_model_version_id,
        settings.price_model_id,
        settings.free,
        settings.rounding_mode_energy,
        settings.rounding_mode_time,
        elements.element_order,
        components.dimension,
        cast(round(components.price_excl_vat * 10000) as bigint) as price_ticks,
        components.step_size,
        -- local time-of-day window in minutes; an end of 00:00 means the end of the day
        case
            when restrictions_per_element.start_time is not null or restrictions_per_element.end_time is not null
                then coalesce(
                    cast(substr(restrictions_per_element.start_time, 1, 2) as integer) * 60
                    + cast(substr(restrictions_per_element.start_time, 4, 2) as integer),
                    0
                )
        end as start_minute,
        coalesce(nullif(
            cast(substr(restrictions_per_element.end_time, 1, 2) as integer) * 60
            + cast(substr(restrictions_per_element.end_time, 4, 2) as integer),
            0
        ), 1440) as end_minute,
        restrictions_per_element.day_of_week,
        restrictions_per_element.min_duration,
        restrictions_per_element.max_duration

    from settings
    inner join elements on elements.price_model_version_id = settings.price_model_version_id
    inner join components on components.element_id = elements.element_id
    left join restrictions_per_element on restrictions_per_element.element_id = elements.element_id

)

select * from flattened
