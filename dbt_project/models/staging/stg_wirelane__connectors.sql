with

stations as (

    select * from {{ source('wirelane', 'charging_stations') }}

),

connectors as (

    select * from {{ source('wirelane', 'charging_stations__connectors') }}

),

joined as (

    select
        connectors.evseid as evse_id,
        stations.organization_id,
        stations.id as station_id,
        stations.station_id as station_label,
        stations.timezone,
        connectors.connector_id,
        connectors.label_code,
        connectors.charging_type,
        cast(connectors.power as numeric(8, 2)) as power_kw,
        connectors.current as current_a,
        connectors.voltage as voltage_v,
        connectors.status,
        connectors.status_update as status_updated_at,
        stations._wl_deleted_at is not null as is_station_deleted,
        connectors._dlt_id as connector_row_id

    from connectors
    inner join stations on connectors._dlt_parent_id = stations._dlt_id

)

select * from joined
