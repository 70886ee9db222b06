{#- Sessions per local start date, organization and station.

    Incremental: the days that can have changed since the last build are summed again in
    whole, for every organization, and replace their old rows (days_to_rebuild says which,
    and why that is all of them); a day left without sessions is deleted after. A session
    without a start counts on the day of its last update, so every update of one moves it. -#}
{{
    config(
        materialized='incremental',
        unique_key='local_start_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_emptied_days('local_start_date', 'coalesce(sessions.local_start_date, cast(sessions.updated_at as date))') }}"
    )
}}

with

sessions as (

    select * from {{ ref('fct_charging_sessions') }}

),

-- the day as the post-hook computes it
dated as (

    select
        *,
        coalesce(local_start_date, cast(updated_at as date)) as session_day
    from sessions

),

sessions_in_rebuilt_days as (

    {{ sessions_on_rebuilt_days('dated', 'session_day', 'local_start_date', 'sessions') }}

),

daily as (

    select
        session_day as local_start_date,
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

    from sessions_in_rebuilt_days
    group by 1, 2, 3

),

final as (

    select
        *,
        cast({{ exact_ratio('successful_sessions', 'sessions', 4) }} as numeric(6, 4)) as success_rate,
        cast({{ exact_ratio('est_idle_hours', 'plug_hours', 4, 4) }} as numeric(6, 4)) as idle_share,
        {{ build_timestamp() }} as built_at
    from daily

)

select * from final
