with

tariffs as (

    select * from {{ source('wirelane', 'tariffs') }}

),

english_names as (

    select _dlt_parent_id, max(text) as name
    from {{ source('wirelane', 'tariffs__name') }}
    where language = 'en'
    group by 1

),

final as (

    select
        tariffs.organization_id,
        tariffs.tariff_id,
        tariffs.id as tariff_internal_id,
        english_names.name,
        tariffs.tariff_type,
        tariffs.roaming_platform,
        tariffs.priority,
        tariffs.active as is_active,
        tariffs.active_from_date as active_from,
        tariffs.active_until_date as active_until,
        tariffs._dlt_valid_from as valid_from,
        tariffs._dlt_valid_to as valid_to,
        tariffs._dlt_valid_to is null as is_current_version

    from tariffs
    left join english_names on english_names._dlt_parent_id = tariffs._dlt_id

)

select * from final
