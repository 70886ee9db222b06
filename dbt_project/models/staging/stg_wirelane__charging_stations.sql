with

source as (

    select * from {{ source('wirelane', 'charging_stations') }}

),

renamed as (

    select
        organization_id,
        id as station_id,
        station_id as station_label,
        charging_site_id,
        charging_site_name,
        owner,
        cpo,
        cpo_name,
        charging_provider,
        vendor,
        model,
        solution_type,
        timezone,
        accessibility,
        accessibility_location_type,
        energy_resource_type,
        roaming as is_roaming,
        onboarding as onboarding_status,
        onboarding_completed_at,
        coalesce(availability__open247, false) as is_open_24_7,
        availability__label as opening_hours_label,
        address__street as street,
        address__house_number as house_number,
        address__zip_code as zip_code,
        address__city as city,
        address__country as country,
        cast(coordinates__latitude as double precision) as latitude,
        cast(coordinates__longitude as double precision) as longitude,
        _wl_deleted_at as deleted_at,
        _wl_deleted_at is not null as is_deleted,
        _dlt_id as station_row_id

    from source

)

select * from renamed
