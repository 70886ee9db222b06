{#- The weekly rhythm of each station: sums per month, local weekday and local hour, for heatmaps.

    Incremental: the station months holding an hour that fct_evse_hourly wrote after this mart's
    last build are summed again, every weekday and hour slot of them; every other month stays
    as built (the same pattern as mart_station_utilization_daily). -#}
{{
    config(
        materialized='incremental',
        unique_key=['month', 'organization_id', 'station_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}

with

{% if is_incremental() %}
{%- set first_rewritten_month = query_value(
    "select min(cast(date_trunc('month', local_date) as date)) from " ~ ref('fct_evse_hourly')
    ~ " where built_at > " ~ last_built_at(this), 'date') %}
rewritten_months as (

    select distinct organization_id, station_id, cast(date_trunc('month', local_date) as date) as month
    from {{ ref('fct_evse_hourly') }}
    where built_at > {{ last_built_at(this) }}

),
{% endif %}

hours as (

    select
        cast(date_trunc('month', hourly.local_date) as date) as month,
        hourly.organization_id, hourly.station_id, hourly.evse_id, hourly.local_iso_weekday, hourly.local_hour,
        hourly.available_minutes, hourly.occupied_minutes, hourly.charging_minutes, hourly.energy_kwh,
        hourly.sessions_started
    from {{ ref('fct_evse_hourly') }} as hourly
    {% if is_incremental() %}
    inner join rewritten_months
        on rewritten_months.organization_id = hourly.organization_id
        and rewritten_months.station_id = hourly.station_id
        and rewritten_months.month = cast(date_trunc('month', hourly.local_date) as date)
    where hourly.local_date >= {{ first_rewritten_month }}
    {% endif %}

),

per_slot as (

    select
        month,
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
        cast(sum(sessions_started) as bigint) as sessions_started
    from hours
    group by 1, 2, 3, 4, 5

),

final as (

    select
        *,
        cast({{ exact_ratio('occupied_hours', 'available_hours', 4, 4) }} as numeric(8, 4)) as occupancy_rate,
        cast({{ exact_ratio('charging_hours', 'available_hours', 4, 4) }} as numeric(8, 4)) as charging_utilization,
        cast({{ exact_ratio('idle_hours', 'occupied_hours', 4, 4) }} as numeric(8, 4)) as idle_share,
        cast({{ exact_ratio('energy_kwh', 'available_hours', 4, 4) }} as numeric(12, 4)) as kwh_per_available_hour,
        {{ build_timestamp() }} as built_at
    from per_slot

)

select * from final
