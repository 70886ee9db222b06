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
        cast(count(case when status = 'closed' and energy_kwh = 0 then 1 end) as bigint) as zero_kwh_sessions,
        cast(coalesce(sum(energy_kwh), 0) as numeric(38, 4)) as energy_kwh,
        cast(coalesce(sum(duration_minutes), 0) / 60.0 as numeric(38, 4)) as plug_hours

    from sessions
    group by 1, 2, 3

),

final as (

    select
        *,
        cast(case when sessions > 0 then successful_sessions * 1.0 / sessions end as numeric(6, 4)) as success_rate
    from daily

)

select * from final
