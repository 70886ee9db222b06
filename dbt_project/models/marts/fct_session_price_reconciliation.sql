{#- The price of every closed session recomputed from its price model under the documented
    pricing rules (simulator/README.md "Pricing rules", OCPI 2.2.1 style): per dimension the
    first element whose restrictions hold at the session's start in the station's local time,
    quantities rounded to the component's step once per session, each part rounded half-up to
    the cent, VAT on the total. Integer arithmetic throughout, so the comparison is exact. -#}

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

    select * from {{ ref('fct_charging_sessions') }}
    where status = 'closed' and price_excl_vat is not null
    {% if is_incremental() %}
    -- only the sessions fct_charging_sessions rewrote since this table was built; price model
    -- versions never change once loaded, so nothing else can change a recomputed price
        and built_at > {{ last_built_at(this) }}
    {% endif %}

),

connectors as (

    select * from {{ ref('stg_wirelane__connectors') }}

),

components as (

    select * from {{ ref('int_price_model_components') }}

),

price_models as (

    select * from {{ ref('int_price_model_settings') }}

),

inputs as (

    select
        sessions.session_id,
        sessions.organization_id,
        sessions.price_model_id,
        sessions.price_model_version_id,
        sessions.updated_at,
        sessions.price_excl_vat as billed_excl_vat,
        sessions.vat_amount as billed_vat,
        cast(round(sessions.energy_kwh * 1000) as bigint) as energy_wh,
        cast({{ seconds_between('sessions.started_at', 'sessions.ended_at') }} as bigint) as duration_s,
        cast(extract(hour from {{ local_time('sessions.started_at', 'connectors.timezone') }}) * 60
             + extract(minute from {{ local_time('sessions.started_at', 'connectors.timezone') }}) as integer) as local_minute,
        case cast(extract(isodow from {{ local_time('sessions.started_at', 'connectors.timezone') }}) as integer)
            when 1 then 'MONDAY' when 2 then 'TUESDAY' when 3 then 'WEDNESDAY' when 4 then 'THURSDAY'
            when 5 then 'FRIDAY' when 6 then 'SATURDAY' else 'SUNDAY'
        end as local_weekday

    from sessions
    inner join connectors on sessions.evse_id = connectors.evse_id

),

matching as (

    select
        inputs.session_id,
        components.dimension,
        components.element_order,
        components.price_ticks,
        components.step_size,
        components.rounding_mode_energy,
        components.rounding_mode_time,
        components.min_duration,
        components.max_duration,
        inputs.energy_wh,
        inputs.duration_s

    from inputs
    inner join components on components.price_model_version_id = inputs.price_model_version_id
    where not components.free
        and (
            components.start_minute is null
            or case
                when components.start_minute < components.end_minute
                    then inputs.local_minute >= components.start_minute and inputs.local_minute < components.end_minute
                -- a window across midnight, e.g. 22:00-06:00
                else inputs.local_minute >= components.start_minute or inputs.local_minute < components.end_minute
            end
        )
        and (components.day_of_week is null or {{ json_list_contains('components.day_of_week', 'inputs.local_weekday') }})
        and (
            components.dimension <> 'ENERGY'
            or ((components.min_duration is null or inputs.duration_s >= components.min_duration)
                and (components.max_duration is null or inputs.duration_s < components.max_duration))
        )

),

first_element_per_dimension as (

    select
        *,
        row_number() over (partition by session_id, dimension order by element_order) as element_rank
    from matching

),

raw_amounts as (

    select
        session_id,
        dimension,
        case
            when dimension = 'ENERGY'
                then {{ round_to_step('energy_wh', 'step_size', 'rounding_mode_energy') }} * price_ticks
            else {{ round_to_step(
                'greatest(least(duration_s, coalesce(max_duration, duration_s)), coalesce(min_duration, 0)) - coalesce(min_duration, 0)',
                'step_size', 'rounding_mode_time') }} * price_ticks
        end as raw_amount
    from first_element_per_dimension
    where element_rank = 1

),

per_session as (

    select
        session_id,
        {{ round_half_up_div('coalesce(sum(case when dimension = \'ENERGY\' then raw_amount end), 0)', 100000) }} as energy_cents,
        {{ round_half_up_div('coalesce(sum(case when dimension <> \'ENERGY\' then raw_amount end), 0)', 6000) }} as time_cents
    from raw_amounts
    group by session_id

),

recomputed as (

    select
        inputs.session_id,
        inputs.organization_id,
        inputs.price_model_id,
        inputs.price_model_version_id,
        inputs.updated_at,
        inputs.billed_excl_vat,
        inputs.billed_vat,
        price_models.price_model_version_id is not null as is_computable,
        -- nothing is recomputed without the price model (the parts stay empty)
        case
            when price_models.free then 0
            when inputs.duration_s >= price_models.tolerance_duration then price_models.connection_fee_cents
            when price_models.price_model_version_id is not null then 0
        end as start_fee_cents,
        case
            when price_models.free then 0
            when price_models.price_model_version_id is not null then coalesce(per_session.energy_cents, 0)
        end as energy_cents,
        case
            when price_models.free then 0
            when price_models.price_model_version_id is not null then coalesce(per_session.time_cents, 0)
        end as time_cents,
        price_models.tax_rate_percent

    from inputs
    left join price_models on price_models.price_model_version_id = inputs.price_model_version_id
    left join per_session on per_session.session_id = inputs.session_id

),

compared as (

    select
        session_id,
        organization_id,
        price_model_id,
        price_model_version_id,
        updated_at,
        billed_excl_vat,
        billed_vat,
        cast((start_fee_cents + energy_cents + time_cents) / 100.0 as numeric(18, 4)) as recomputed_excl_vat,
        cast({{ round_half_up_div('(start_fee_cents + energy_cents + time_cents) * tax_rate_percent', 100) }} / 100.0 as numeric(18, 4)) as recomputed_vat,
        cast(start_fee_cents / 100.0 as numeric(18, 4)) as recomputed_start_fee,
        cast(energy_cents / 100.0 as numeric(18, 4)) as recomputed_energy,
        cast(time_cents / 100.0 as numeric(18, 4)) as recomputed_time,
        is_computable
    from recomputed

),

final as (

    select
        *,
        cast(billed_excl_vat - recomputed_excl_vat as numeric(18, 4)) as diff_excl_vat,
        cast(billed_vat - recomputed_vat as numeric(18, 4)) as diff_vat,
        case
            when not is_computable then 'not_computable'
            when billed_excl_vat = recomputed_excl_vat and billed_vat = recomputed_vat then 'exact'
            else 'mismatch'
        end as recon_status,
        {{ build_timestamp() }} as built_at
    from compared

)

select * from final
