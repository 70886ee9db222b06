with

source as (

    select * from {{ source('wirelane', 'members') }}

),

renamed as (

    select
        organization_id,
        id as member_id,
        account_id,
        status as membership_status,
        account__status as account_status,
        account__account_type as account_type,
        account__language as language,
        account__tenant as tenant,
        coalesce(account__billable, false) as is_billable,
        coalesce(account__anonymized, false) as is_anonymized,
        coalesce(account__transactional_invoicing, false) as has_transactional_invoicing,
        account__created as account_created_at,
        account__updated as account_updated_at,
        account__auth_date as last_authenticated_at,
        account__address__city as city,
        account__address__zip_code as zip_code,
        account__address__country as country,
        -- no e-mail address past the raw layer: a hash to count and join, the domain to group by
        md5(lower(email)) as email_hash,
        split_part(email, '@', 2) as email_domain,
        _wl_deleted_at as deleted_at,
        _wl_deleted_at is not null as is_deleted,
        _dlt_id as member_row_id

    from source

)

select * from renamed
