with

stations as (

    select * from {{ source('wirelane', 'charging_stations') }}

),

connectors as (

    select * from {{ ref('stg_wirelane__connectors') }}

),

connector_rollup as (

    select
        organization_id,
        station_id,
        count(*) as connectors,
        max(power_kw) as max_power_kw,
        max(case when charging_type = 'DC' then 1 else 0 end) = 1 as has_dc
    from connectors
    group by 1, 2

),

final as (

    select
        stations.organization_id,
        stations.id as station_id,
        stations.station_id as station_label,
        stations.address__city as city,
        stations.address__zip_code as zip_code,
        stations.address__country as country,
        cast(stations.coordinates__latitude as double precision) as latitude,
        cast(stations.coordinates__longitude as double precision) as longitude,
        stations.timezone,
        stations.accessibility,
        stations.roaming as is_roaming,
        stations.onboarding = 'done' as is_onboarded,
        cast(coalesce(connector_rollup.connectors, 0) as bigint) as connectors,
        cast(connector_rollup.max_power_kw as numeric(8, 2)) as max_power_kw,
        case
            when not coalesce(connector_rollup.has_dc, false) then 'AC'
            when connector_rollup.max_power_kw < 50 then 'DC below 50 kW'
            when connector_rollup.max_power_kw < 150 then 'DC 50-149 kW'
            else 'DC 150 kW and more'
        end as power_class,
        coalesce(connector_rollup.max_power_kw >= 50, false) as is_rapid,
        stations._wl_deleted_at is not null as is_deleted

    from stations
    left join connector_rollup
        on connector_rollup.organization_id = stations.organization_id
        and connector_rollup.station_id = stations.id

)

select * from final
