with

source as (

    {{ source_or_empty('wirelane', 'station_maintenance_windows', {
        'organization_id': 'text', 'station_id': 'bigint', 'position': 'bigint', 'charging_station_id': 'text',
        'start': 'timestamp with time zone', 'end': 'timestamp with time zone',
        'actual_end': 'timestamp with time zone'}) }}

),

renamed as (

    select
        organization_id,
        station_id,
        position,
        charging_station_id as station_label,
        "start" as starts_at,
        "end" as planned_end_at,
        actual_end as actual_end_at,
        -- a window that finished early or late ends when it actually did
        coalesce(actual_end, "end") as ends_at

    from source

)

select * from renamed
