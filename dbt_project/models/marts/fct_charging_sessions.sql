{{
    config(
        materialized='incremental',
        unique_key='session_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}

with

sessions as (

    select * from {{ ref('stg_wirelane__sessions') }}

),

connectors as (

    select * from {{ ref('stg_wirelane__connectors') }}

),

enriched as (

    select
        sessions.session_id,
        sessions.organization_id,
        connectors.station_id,
        sessions.evse_id,
        sessions.charge_point_id,
        sessions.tariff_id,
        sessions.price_model_id,
        sessions.member_account_id,
        sessions.city,
        sessions.zip_code,
        sessions.country,
        sessions.started_at,
        sessions.ended_at,
        cast({{ local_time('sessions.started_at', 'connectors.timezone') }} as date) as local_start_date,
        cast({{ local_time('sessions.ended_at', 'connectors.timezone') }} as date) as local_end_date,
        cast(extract(hour from {{ local_time('sessions.started_at', 'connectors.timezone') }}) as integer) as local_start_hour,
        cast({{ seconds_between('sessions.started_at', 'sessions.ended_at') }} / 60.0 as numeric(12, 2)) as duration_minutes,
        sessions.energy_kwh,
        case
            when sessions.ended_at > sessions.started_at
                then cast(sessions.energy_kwh / ({{ seconds_between('sessions.started_at', 'sessions.ended_at') }} / 3600.0) as numeric(10, 3))
        end as avg_power_kw,
        sessions.status,
        sessions.status = 'closed' and sessions.energy_kwh > 0 as is_successful,
        sessions.error_code,
        sessions.identification_type,
        sessions.roaming_provider,
        sessions.price_excl_vat,
        sessions.vat_amount,
        sessions.price_incl_vat,
        sessions.currency,
        sessions.updated_at,
        sessions.energy_kwh < 0 as dq_negative_energy,
        sessions.ended_at < sessions.started_at as dq_end_before_start,
        connectors.power_kw is not null
            and sessions.ended_at > sessions.started_at
            and sessions.energy_kwh / ({{ seconds_between('sessions.started_at', 'sessions.ended_at') }} / 3600.0)
                > connectors.power_kw * 1.05 as dq_power_above_rating

    from sessions
    left join connectors on sessions.evse_id = connectors.evse_id
    {% if is_incremental() %}
    -- sessions changed since the last build, plus a lookback for late commits
    where sessions.updated_at >= (
        select max(built.updated_at) from {{ this }} as built
    ) - interval '{{ var("session_lookback_hours") }} hours'
    {% endif %}

)

select * from enriched
