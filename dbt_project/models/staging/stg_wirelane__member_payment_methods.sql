with

source as (

    {{ source_or_empty('wirelane', 'member_payment_methods', {
        'organization_id': 'text', 'account_id': 'text', 'id': 'text', 'status': 'text', 'processor': 'text',
        'type': 'text', 'is_useable': 'boolean', 'is_expired': 'boolean', 'expires': 'text',
        '_wl_deleted_at': 'timestamp with time zone'}) }}

),

renamed as (

    select
        organization_id,
        account_id,
        id as payment_method_id,
        status,
        processor,
        type as payment_type,
        -- the label (masked card or IBAN) stays in the raw layer
        coalesce(is_useable, false) as is_usable,
        coalesce(is_expired, false) as is_expired,
        expires as expires_month,
        _wl_deleted_at is not null as is_deleted

    from source

)

select * from renamed
