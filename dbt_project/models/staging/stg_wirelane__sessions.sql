with

source as (

    select * from {{ source('wirelane', 'sessions') }}

),

renamed as (

    select
        session_id,
        organization_id,
        location__evse_id as evse_id,
        charge_point_id,
        charging_point_id,
        tariff as tariff_id,
        price_model as price_model_id,
        customer__account_id as member_account_id,
        identification_type,
        coalesce(roaming_provider, 'none') as roaming_provider,
        status,
        error_code,
        location__address__city as city,
        location__address__zip_code as zip_code,
        location__address__country as country,
        session_begin as started_at,
        session_end as ended_at,
        creation_date as created_at,
        update_date as updated_at,
        cast(kwh as numeric(14, 4)) as energy_kwh,
        meter_start,
        meter_stop,
        cast(total_price__net_amount as numeric(18, 4)) as price_excl_vat,
        cast(total_price__tax_amount as numeric(18, 4)) as vat_amount,
        cast(total_price__gross_amount as numeric(18, 4)) as price_incl_vat,
        total_price__currency as currency,
        _dlt_load_id as loaded_in

    from source

)

select * from renamed
