with

authentication_types as (

    {{ source_or_empty('wirelane', 'charging_stations__authentication_types',
        {'value': 'text', '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}

),

stations as (

    select organization_id, station_id, station_row_id from {{ ref('stg_wirelane__charging_stations') }}

),

renamed as (

    select
        stations.organization_id,
        stations.station_id,
        authentication_types.value as authentication_type

    from authentication_types
    inner join stations on stations.station_row_id = authentication_types._dlt_parent_id

)

select * from renamed
