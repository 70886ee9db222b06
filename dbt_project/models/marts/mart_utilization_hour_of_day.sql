{#- The weekly rhythm of each station: sums per month, local weekday and local hour, for heatmaps. -#}
with

hours as (

    select * from {{ ref('fct_evse_hourly') }}

),

per_slot as (

    select
        cast(date_trunc('month', local_date) as date) as month,
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
        cast({{ exact_ratio('energy_kwh', 'available_hours', 4, 4) }} as numeric(12, 4)) as kwh_per_available_hour
    from per_slot

)

select * from final
