with

price_models as (

    select * from {{ source('wirelane', 'price_models') }}
    where _dlt_valid_to is null

),

settings as (

    select
        price_id,
        free,
        currency,
        cast(round(connection_fee * 100) as bigint) as connection_fee_cents,
        tolerance_duration,
        rounding_mode_energy,
        rounding_mode_time,
        cast(round(tax_rate) as bigint) as tax_rate_percent
    from price_models

)

select * from settings
