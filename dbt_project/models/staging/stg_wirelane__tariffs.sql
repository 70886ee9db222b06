{#- Every known version of every tariff (dlt SCD2): `valid_from` / `valid_to` are when the loads
    saw the version; `updated_at` is the API's own change time. -#}
with

source as (

    select * from {{ source('wirelane', 'tariffs') }}

),

renamed as (

    select
        _dlt_id as tariff_version_id,
        organization_id,
        tariff_id,
        id as tariff_internal_id,
        tenant,
        tariff_type,
        roaming_platform,
        priority,
        coalesce(active, false) as is_active,
        active_from_date as active_from,
        active_until_date as active_until,
        coalesce(for_member, false) as for_members,
        coalesce(for_customer, false) as for_customers,
        coalesce(for_marketplace, false) as for_marketplace,
        coalesce(for_unregistered_customers, false) as for_unregistered_customers,
        reservation_duration as reservation_duration_minutes,
        creation_date as created_at,
        update_date as updated_at,
        _dlt_valid_from as valid_from,
        _dlt_valid_to as valid_to,
        _dlt_valid_to is null as is_current_version

    from source

)

select * from renamed
