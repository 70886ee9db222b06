with

price_models as (

    select * from {{ source('wirelane', 'price_models') }}

),

final as (

    select
        organization_id,
        price_id,
        id as price_model_internal_id,
        tariff_id,
        rule_charging_type as charging_type,
        currency,
        free as is_free,
        cast(connection_fee as numeric(18, 4)) as connection_fee,
        cast(tax_rate as numeric(6, 2)) as tax_rate_percent,
        active as is_active,
        creation_date as created_at,
        update_date as updated_at,
        _dlt_valid_from as valid_from,
        _dlt_valid_to as valid_to,
        _dlt_valid_to is null as is_current_version

    from price_models

)

select * from final
