with

source as (

    {{ source_or_empty('wirelane', 'member_subscriptions', {
        'organization_id': 'text', 'account_id': 'text', 'id': 'text', 'plan_key': 'text',
        'begin': 'timestamp with time zone', 'end': 'timestamp with time zone',
        'current_period__currency': 'text', 'current_period__amount': 'numeric(38, 9)',
        'current_period__begin': 'timestamp with time zone', 'current_period__end': 'timestamp with time zone',
        'current_period__tax_rate': 'numeric(38, 9)', 'current_period__plan__name': 'text',
        'current_period__plan__interval_type': 'text', 'current_period__plan__interval_count': 'bigint',
        '_wl_deleted_at': 'timestamp with time zone'}) }}

),

renamed as (

    select
        organization_id,
        account_id,
        id as subscription_id,
        plan_key,
        current_period__plan__name as plan_name,
        "begin" as started_at,
        "end" as ended_at,
        current_period__begin as current_period_started_at,
        current_period__end as current_period_ends_at,
        cast(current_period__amount as numeric(18, 4)) as current_period_amount,
        current_period__currency as currency,
        cast(current_period__tax_rate as numeric(6, 2)) as vat_rate_percent,
        current_period__plan__interval_type as billing_interval_unit,
        current_period__plan__interval_count as billing_interval_count,
        _wl_deleted_at is not null as is_deleted

    from source

)

select * from renamed
