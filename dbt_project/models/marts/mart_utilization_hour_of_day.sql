{#- The weekly rhythm of each station: sums per month, local weekday and local hour, for heatmaps.
    Incremental: the station months with an hour that fct_evse_hourly rewrote since this mart was
    built are summed again, all their weekday and hour slots; every other month stays. -#}
{{
    config(
        materialized='incremental',
        unique_key=['month', 'organization_id', 'station_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
with

hours as (

    select
        *,
        cast(date_trunc('month', local_date) as date) as local_month
    from {{ ref('fct_evse_hourly') }}

),

{% if is_incremental() %}
rewritten_months as (

    select distinct hours.organization_id, hours.station_id, hours.local_month
    from hours
    where hours.built_at > (select coalesce(max(built_at), {{ epoch_timestamp() }}) from {{ this }})

),
{% endif %}

months_to_sum as (

    select hours.*
    from hours
    {% if is_incremental() %}
    inner join rewritten_months
        on rewritten_months.organization_id = hours.organization_id
        and rewritten_months.station_id = hours.station_id
        and rewritten_months.local_month = hours.local_month
    {% endif %}

),

per_slot as (

    select
        local_month as month,
        organization_id,
        station_id,
        local_iso_weekday,
        local_hour,
        cast(count(distinct evse_id) as bigint) as evses,
        cast(sum(available_minutes) / 60.0 as numeric(12, 4)) as available_hours,
        cast(sum(occupied_minutes) / 60.0 as numeric(12, 4)) as occupied_hours,
        cast(sum(charging_minutes) / 60.0 as numeric(12, 4)) as charging_hours,
        cast(sum(occupied_minutes - charging_minutes) / 60.0 as numeric(12, 4)) as idle_hours,
        cast(sum(energy_kwh) as numeric(14, 4)) as energy_kwh,
        cast(sum(sessions_started) as bigint) as sessions_started,
        max(built_at) as built_at
    from months_to_sum
    group by 1, 2, 3, 4, 5

),

final as (

    select
        *,
        cast({{ exact_ratio('occupied_hours', 'available_hours', 4, 4) }} as numeric(8, 4)) as occupancy_rate,
        cast({{ exact_ratio('charging_hours', 'available_hours', 4, 4) }} as numeric(8, 4)) as charging_utilization,
        cast({{ exact_ratio('idle_hours', 'occupied_hours', 4, 4) }} as numeric(8, 4)) as idle_share,
        cast({{ exact_ratio('energy_kwh', 'available_hours', 4, 4) }} as numeric(12, 4)) as kwh_per_available_hour
    from per_slot

)

select * from final
