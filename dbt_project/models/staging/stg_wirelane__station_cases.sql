with

source as (

    {{ source_or_empty('wirelane', 'station_cases', {
        'organization_id': 'text', 'station_id': 'bigint', 'id': 'text', 'case_number': 'bigint',
        'title': 'text', 'status': 'text', 'case_owner_name': 'text', 'url': 'text',
        'created_at': 'timestamp with time zone', 'closed_at': 'timestamp with time zone'}) }}

),

renamed as (

    select
        organization_id,
        station_id,
        id as case_id,
        case_number,
        title,
        status,
        status = 'Closed' as is_closed,
        case_owner_name,
        url,
        created_at,
        closed_at

    from source

)

select * from renamed
