with

stations as (

    select * from {{ ref('stg_wirelane__charging_stations') }}

),

connectors as (

    select * from {{ ref('stg_wirelane__connectors') }}

),

opening_hours as (

    select * from {{ ref('stg_wirelane__station_opening_hours') }}

),

connector_rollup as (

    select
        organization_id,
        station_id,
        count(*) as connectors,
        count(case when charging_type = 'AC' then 1 end) as ac_connectors,
        count(case when charging_type = 'DC' then 1 end) as dc_connectors,
        max(power_kw) as max_power_kw,
        sum(power_kw) as total_power_kw
    from connectors
    group by 1, 2

),

weekly_open_minutes as (

    select organization_id, station_id, sum(closes_minute - opens_minute) as open_minutes
    from opening_hours
    group by 1, 2

),

final as (

    select
        stations.organization_id,
        stations.station_id,
        stations.station_label,
        stations.charging_site_id,
        stations.charging_site_name,
        stations.city,
        stations.zip_code,
        stations.country,
        stations.latitude,
        stations.longitude,
        stations.timezone,
        stations.accessibility,
        stations.accessibility_location_type,
        stations.solution_type,
        stations.is_roaming,
        stations.onboarding_status = 'done' as is_onboarded,
        stations.onboarding_completed_at,
        stations.is_open_24_7,
        stations.opening_hours_label,
        cast(case
            when stations.is_open_24_7 then 168
            else coalesce(weekly_open_minutes.open_minutes, 0) / 60.0
        end as numeric(6, 2)) as weekly_open_hours,
        cast(coalesce(connector_rollup.connectors, 0) as bigint) as connectors,
        cast(coalesce(connector_rollup.ac_connectors, 0) as bigint) as ac_connectors,
        cast(coalesce(connector_rollup.dc_connectors, 0) as bigint) as dc_connectors,
        cast(connector_rollup.max_power_kw as numeric(8, 2)) as max_power_kw,
        cast(connector_rollup.total_power_kw as numeric(10, 2)) as total_power_kw,
        case
            when coalesce(connector_rollup.dc_connectors, 0) = 0 then 'AC'
            when connector_rollup.max_power_kw < 50 then 'DC below 50 kW'
            when connector_rollup.max_power_kw < 150 then 'DC 50-149 kW'
            else 'DC 150 kW and more'
        end as power_class,
        coalesce(connector_rollup.max_power_kw >= 50, false) as is_rapid,
        stations.is_deleted

    from stations
    left join connector_rollup
        on connector_rollup.organization_id = stations.organization_id
        and connector_rollup.station_id = stations.station_id
    left join weekly_open_minutes
        on weekly_open_minutes.organization_id = stations.organization_id
        and weekly_open_minutes.station_id = stations.station_id

)

select * from final
