with

price_models as (

    select * from {{ ref('stg_wirelane__price_models') }}

),

applicability as (

    select price_model_version_id, applies_from, applies_until from {{ ref('int_price_model_settings') }}

),

final as (

    select
        price_models.price_model_version_id,
        price_models.organization_id,
        price_models.price_model_id as price_id,
        price_models.price_model_internal_id,
        price_models.tariff_id,
        price_models.charging_type,
        price_models.currency,
        price_models.is_free,
        price_models.connection_fee,
        price_models.vat_rate_percent as tax_rate_percent,
        price_models.rounding_mode_energy,
        price_models.rounding_mode_time,
        price_models.is_active,
        price_models.created_at,
        price_models.updated_at,
        applicability.applies_from,
        applicability.applies_until,
        price_models.valid_from,
        price_models.valid_to,
        price_models.is_current_version

    from price_models
    inner join applicability on applicability.price_model_version_id = price_models.price_model_version_id

)

select * from final
