with

tariffs as (

    select * from {{ ref('stg_wirelane__tariffs') }}

),

english_names as (

    select tariff_version_id, max(name) as name
    from {{ ref('stg_wirelane__tariff_names') }}
    where language = 'en'
    group by 1

),

final as (

    select
        tariffs.tariff_version_id,
        tariffs.organization_id,
        tariffs.tariff_id,
        tariffs.tariff_internal_id,
        english_names.name,
        tariffs.tariff_type,
        tariffs.roaming_platform,
        tariffs.priority,
        tariffs.is_active,
        tariffs.active_from,
        tariffs.active_until,
        tariffs.valid_from,
        tariffs.valid_to,
        tariffs.is_current_version

    from tariffs
    left join english_names on english_names.tariff_version_id = tariffs.tariff_version_id

)

select * from final
