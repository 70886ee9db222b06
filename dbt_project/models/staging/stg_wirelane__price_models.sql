{#- Every known version of every price model (dlt SCD2), keyed by the version's row id. -#}
with

source as (

    select * from {{ source('wirelane', 'price_models') }}

),

renamed as (

    select
        _dlt_id as price_model_version_id,
        price_id as price_model_id,
        id as price_model_internal_id,
        organization_id,
        tariff_id,
        currency,
        coalesce(free, false) as is_free,
        rule_charging_type as charging_type,
        price_order_within_tariff,
        cast(connection_fee as numeric(18, 4)) as connection_fee,
        coalesce(tolerance_duration, 0) as tolerance_duration_s,
        rounding_mode_energy,
        rounding_mode_time,
        cast(tax_rate as numeric(6, 2)) as vat_rate_percent,
        coalesce(active, false) as is_active,
        creation_date as created_at,
        update_date as updated_at,
        _dlt_valid_from as valid_from,
        _dlt_valid_to as valid_to,
        _dlt_valid_to is null as is_current_version

    from source

)

select * from renamed
