with

source as (

    select * from {{ source('wirelane', 'sessions') }}

),

renamed as (

    select
        -- ids
        session_id,
        short_session_id,
        organization_id,
        location__evse_id as evse_id,
        charge_point_id,
        charging_point_id,
        charging_station_id,
        tariff as tariff_id,
        price_model as price_model_id,
        customer__account_id as member_account_id,
        cpo_session_id,
        roaming_session_id,

        -- who and how (identification values, e-mail and card numbers stay in the raw layer)
        emp,
        identification_type,
        coalesce(roaming_provider, 'none') as roaming_provider,
        location__charging_type as charging_type,
        location__plug_type as plug_type,
        status,
        error_code,
        coalesce(maintenance, false) as is_maintenance,
        coalesce(has_signed_value, false) as has_signed_value,

        -- where
        location__address__city as city,
        location__address__zip_code as zip_code,
        location__address__country as country,

        -- when (UTC instants)
        session_begin as started_at,
        session_end as ended_at,
        process_begin as process_started_at,
        process_end as process_ended_at,
        creation_date as created_at,
        update_date as updated_at,
        session_duration as reported_duration_minutes,

        -- how much
        cast(kwh as numeric(14, 4)) as energy_kwh,
        meter_start as meter_start_wh,
        meter_stop as meter_stop_wh,
        cast(total_price__net_amount as numeric(18, 4)) as price_excl_vat,
        cast(total_price__tax_amount as numeric(18, 4)) as vat_amount,
        cast(total_price__gross_amount as numeric(18, 4)) as price_incl_vat,
        cast(total_price__tax_rate as numeric(6, 2)) as vat_rate_percent,
        total_price__currency as currency,
        cast(energy_dimensions_price__net_amount as numeric(18, 4)) as energy_price_excl_vat,
        cast(time_dimensions_price__net_amount as numeric(18, 4)) as time_price_excl_vat,
        cast(start_fee_price__net_amount as numeric(18, 4)) as start_fee_excl_vat,
        cast(limit_price as numeric(18, 4)) as limit_price,

        _dlt_load_id as loaded_in

    from source

)

select * from renamed
