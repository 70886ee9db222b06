{#- Utilization per EVSE and local day (sum the hour columns up to a station, site or month;
    never average the rates).

    Incremental: fct_evse_hourly rewrites whole local days, so the EVSE days it wrote after this
    mart's last build are summed again from the rewritten rows alone (found by `built_at`, a
    column DuckDB skips by row group: the rows of one build lie together), and every other day
    stays as built. -#}
{{
    config(
        materialized='incremental',
        unique_key=['evse_id', 'local_date'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}

with

hours as (

    select
        local_date, organization_id, station_id, evse_id, open_minutes, maintenance_minutes,
        available_minutes, occupied_minutes, charging_minutes, energy_kwh, sessions_started
    from {{ ref('fct_evse_hourly') }}
    {% if is_incremental() %}
    where built_at > {{ last_built_at(this) }}
    {% endif %}

),

daily as (

    select
        local_date,
        organization_id,
        station_id,
        evse_id,
        cast(count(*) as bigint) as hours_in_day,
        cast(sum(open_minutes) / 60.0 as numeric(10, 4)) as open_hours,
        cast(sum(maintenance_minutes) / 60.0 as numeric(10, 4)) as maintenance_hours,
        cast(sum(available_minutes) / 60.0 as numeric(10, 4)) as available_hours,
        cast(sum(occupied_minutes) / 60.0 as numeric(10, 4)) as occupied_hours,
        cast(sum(charging_minutes) / 60.0 as numeric(10, 4)) as charging_hours,
        cast(sum(occupied_minutes - charging_minutes) / 60.0 as numeric(10, 4)) as idle_hours,
        cast(sum(energy_kwh) as numeric(14, 4)) as energy_kwh,
        cast(sum(sessions_started) as bigint) as sessions_started
    from hours
    group by 1, 2, 3, 4

),

final as (

    select
        *,
        cast({{ exact_ratio('occupied_hours', 'available_hours', 4, 4) }} as numeric(8, 4)) as occupancy_rate,
        cast({{ exact_ratio('charging_hours', 'available_hours', 4, 4) }} as numeric(8, 4)) as charging_utilization,
        cast({{ exact_ratio('idle_hours', 'occupied_hours', 4, 4) }} as numeric(8, 4)) as idle_share,
        {{ build_timestamp() }} as built_at
    from daily

)

select * from final
