{#- Session-level settings of every price model version, in the integer units the billing engine
    uses (cents, whole percent), plus when each version applied by the API's own clock. -#}
with

price_models as (

    select * from {{ ref('stg_wirelane__price_models') }}

),

settings as (

    select
        price_model_version_id,
        price_model_id,
        organization_id,
        is_free as free,
        currency,
        cast(round(connection_fee * 100) as bigint) as connection_fee_cents,
        tolerance_duration_s as tolerance_duration,
        rounding_mode_energy,
        rounding_mode_time,
        cast(round(vat_rate_percent) as bigint) as tax_rate_percent,
        -- a version applies from its API change time until the next version's: the load times
        -- of dlt's SCD2 columns say when we saw it, not when the price changed
        coalesce(updated_at, created_at) as applies_from,
        lead(coalesce(updated_at, created_at)) over (
            partition by price_model_id order by coalesce(updated_at, created_at), valid_from
        ) as applies_until,
        row_number() over (
            partition by price_model_id order by coalesce(updated_at, created_at), valid_from
        ) = 1 as is_first_version

    from price_models

)

select * from settings
