with

members as (

    select * from {{ source('wirelane', 'members') }}

),

final as (

    select
        organization_id,
        id as member_id,
        account_id,
        status as membership_status,
        account__status as account_status,
        account__account_type as account_type,
        account__language as language,
        account__created as account_created_at,
        -- no raw e-mail address in a mart: a hash to count and join, the domain to group by
        md5(lower(email)) as email_hash,
        split_part(email, '@', 2) as email_domain,
        _wl_deleted_at is not null as is_deleted

    from members

)

select * from final
