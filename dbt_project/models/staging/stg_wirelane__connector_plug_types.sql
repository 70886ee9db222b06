with

plug_types as (

    {{ source_or_empty('wirelane', 'charging_stations__connectors__plug_types',
        {'value': 'text', '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}

),

connectors as (

    select evse_id, connector_row_id from {{ ref('stg_wirelane__connectors') }}

),

renamed as (

    select
        connectors.evse_id,
        plug_types._dlt_list_idx as position,
        plug_types.value as plug_type

    from plug_types
    inner join connectors on connectors.connector_row_id = plug_types._dlt_parent_id

)

select * from renamed
