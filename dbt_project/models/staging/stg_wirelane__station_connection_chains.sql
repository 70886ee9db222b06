with

source as (

    {{ source_or_empty('wirelane', 'station_connection_chains', {
        'organization_id': 'text', 'station_id': 'bigint', 'position': 'bigint', 'id': 'text',
        'type': 'text', 'label': 'text', 'status': 'text', 'tenant': 'text'}) }}

),

renamed as (

    select
        organization_id,
        station_id,
        position,
        id as chain_item_id,
        type as item_type,
        label,
        status,
        tenant

    from source

)

select * from renamed
