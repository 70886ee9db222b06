with

sessions as (

    select * from {{ ref('fct_charging_sessions') }}

),

daily as (

    select
        coalesce(local_start_date, cast(updated_at as date)) as local_start_date,
        organization_id,
        station_id,
        cast(count(*) as bigint) as sessions,
        cast(count(case when is_successful then 1 end) as bigint) as successful_sessions,
        cast(count(case when status in ('error', 'error_consecutive_start') then 1 end) as bigint) as failed_sessions,
        cast(count(case when status = 'canceled' then 1 end) as bigint) as canceled_sessions,
        cast(count(case when status = 'closed' and energy_kwh = 0 then 1 end) as bigint) as zero_kwh_sessions,
        cast(count(case when is_open then 1 end) as bigint) as open_sessions,
        cast(count(case when dq_stuck_open then 1 end) as bigint) as stuck_open_sessions,
        cast(coalesce(sum(energy_kwh), 0) as numeric(38, 4)) as energy_kwh,
        cast(coalesce(sum(duration_minutes), 0) / 60.0 as numeric(38, 4)) as plug_hours,
        cast(coalesce(sum(est_charging_minutes), 0) / 60.0 as numeric(38, 4)) as est_charging_hours,
        cast(coalesce(sum(est_idle_minutes), 0) / 60.0 as numeric(38, 4)) as est_idle_hours,
        cast({{ exact_ratio('sum(case when is_successful then duration_minutes end)',
                            'count(case when is_successful then 1 end)', 2, 2) }} as numeric(12, 2))
            as avg_successful_duration_minutes,
        -- the lower median (an actual duration): interpolating would round differently per warehouse
        cast(percentile_disc(0.5) within group (order by case when is_successful then duration_minutes end)
             as numeric(12, 2)) as median_successful_duration_minutes

    from sessions
    group by 1, 2, 3

),

final as (

    select
        *,
        cast({{ exact_ratio('successful_sessions', 'sessions', 4) }} as numeric(6, 4)) as success_rate,
        cast({{ exact_ratio('est_idle_hours', 'plug_hours', 4, 4) }} as numeric(6, 4)) as idle_share
    from daily

)

select * from final
