{#- The utilization spine: one row per EVSE and UTC hour over the period the data covers, with the
    minutes the EVSE was available (opening hours minus maintenance), occupied (plugged in) and
    charging (estimated), and the energy it delivered. Every utilization KPI is a ratio of sums
    over this table. UTC hours keep DST days exact (the local 02:00 hour repeats in October).

    Incremental: each EVSE's hours are rebuilt from the local midnight before the earliest hour
    that can have changed (the start of a session fct_charging_sessions rewrote since; a
    maintenance window that ended within `maintenance_lookback_hours`; its last built hour,
    which was partial), and new hours are added up to the data's clock; the rebuilt hours replace
    the EVSE's rows from the first of them on (macros/replace_tail.sql). Everything before stays
    as built; `built_at` says which build wrote each row, and every build writes whole local
    days. -#}
{{
    config(
        materialized='incremental',
        unique_key=['evse_id', 'hour_start'],
        incremental_strategy='replace_tail',
        on_schema_change='append_new_columns'
    )
}}

with

connectors as (

    select * from {{ ref('stg_wirelane__connectors') }}

),

stations as (

    select * from {{ ref('stg_wirelane__charging_stations') }}

),

opening_hours as (

    select * from {{ ref('stg_wirelane__station_opening_hours') }}

),

maintenance_windows as (

    select * from {{ ref('stg_wirelane__station_maintenance_windows') }}

),

sessions as (

    select * from {{ ref('fct_charging_sessions') }}
    where started_at is not null

),

-- the period each organization's data covers: its first session start to the API's clock as
-- the data shows it (the newest change of any session)
data_period as (

    select
        organization_id,
        date_trunc('hour', min(started_at)) as first_hour,
        max(updated_at) as observed_until
    from sessions
    group by 1

),

{% if is_incremental() %}
previous_build as (

    select evse_id, max(hour_start) as last_hour from {{ this }} group by 1

),

maintenance_since as (

    select max(last_hour) - interval '{{ var("maintenance_lookback_hours") }} hours' as since from previous_build

),

rebuild_points as (

    select evse_id, last_hour as from_hour from previous_build
    union all
    select sessions.evse_id, date_trunc('hour', sessions.started_at)
    from sessions
    -- the sessions fct_charging_sessions rewrote since this table was built (new versions); one
    -- still open and unchanged needs nothing earlier: its hours up to the last build were
    -- occupied in full already, and the EVSE's last built hour is a rebuild point anyway
    where sessions.built_at > {{ last_built_at(this) }}
    union all
    select connectors.evse_id, date_trunc('hour', maintenance_windows.starts_at)
    from maintenance_windows
    inner join connectors
        on connectors.organization_id = maintenance_windows.organization_id
        and connectors.station_id = maintenance_windows.station_id
    where coalesce(maintenance_windows.ends_at, maintenance_windows.starts_at) >= (select since from maintenance_since)

),

rebuild_from as (

    select evse_id, min(from_hour) as from_hour from rebuild_points group by 1

),
{% endif %}

evse_periods as (

    select
        connectors.organization_id,
        connectors.station_id,
        connectors.evse_id,
        stations.timezone,
        stations.is_open_24_7,
        greatest(
            data_period.first_hour,
            coalesce(date_trunc('hour', stations.onboarding_completed_at), data_period.first_hour)
            {% if is_incremental() %}
            -- an EVSE built before starts again at the local midnight before the first hour that
            -- may have changed: builds rewrite whole local days, which mart_station_utilization_daily
            -- then sums from the rewritten rows alone
            , coalesce(
                {{ local_time("date_trunc('day', " ~ local_time('rebuild_from.from_hour', 'stations.timezone') ~ ")", 'stations.timezone') }},
                data_period.first_hour
            )
            {% endif %}
        ) as first_hour,
        date_trunc('hour', least(data_period.observed_until, coalesce(stations.deleted_at, data_period.observed_until)))
            as last_hour,
        data_period.observed_until

    from connectors
    inner join stations
        on stations.organization_id = connectors.organization_id
        and stations.station_id = connectors.station_id
    inner join data_period on data_period.organization_id = connectors.organization_id
    {% if is_incremental() %}
    left join rebuild_from on rebuild_from.evse_id = connectors.evse_id
    {% endif %}

),

evse_hours as (

    select
        *,
        {{ local_time('hour_start', 'timezone') }} as local_hour_start
    from (
        {{ hour_series('evse_periods', 'evse_periods.first_hour', 'evse_periods.last_hour') }}
    ) as hours

),

open_minutes_per_hour as (

    -- stations with weekly hours: the part of each hour inside an opening interval of its
    -- local weekday (wall-clock minutes of the local hour)
    select
        evse_hours.evse_id,
        evse_hours.hour_start,
        sum(greatest(0,
            least(opening_hours.closes_minute,
                  cast(extract(hour from evse_hours.local_hour_start) as integer) * 60 + 60)
            - greatest(opening_hours.opens_minute,
                       cast(extract(hour from evse_hours.local_hour_start) as integer) * 60)
        )) as open_minutes

    from evse_hours
    inner join opening_hours
        on opening_hours.organization_id = evse_hours.organization_id
        and opening_hours.station_id = evse_hours.station_id
        and opening_hours.iso_weekday = cast(extract(isodow from evse_hours.local_hour_start) as integer)
    where not evse_hours.is_open_24_7
    group by 1, 2

),

maintenance_hours as (

    select
        organization_id,
        station_id,
        hour_start,
        least(3600, sum({{ overlap_seconds('starts_at', 'ends_at', 'hour_start', "hour_start + interval '1 hour'") }})) / 60.0
            as maintenance_minutes
    from (
        {{ hour_series('maintenance_windows', "date_trunc('hour', maintenance_windows.starts_at)",
                       "maintenance_windows.ends_at - interval '1 second'") }}
    ) as windows
    where ends_at > starts_at
    group by 1, 2, 3

),

session_spans as (

    select
        sessions.session_id,
        sessions.evse_id,
        sessions.started_at,
        coalesce(sessions.ended_at, data_period.observed_until) as occupied_until,
        coalesce(sessions.est_charging_seconds, 0) as charging_s,
        cast(round(greatest(sessions.energy_kwh, 0) * 10000) as bigint) as energy_units
    from sessions
    inner join data_period on data_period.organization_id = sessions.organization_id
    -- only sessions that reach into the hours being built
    inner join evse_periods on evse_periods.evse_id = sessions.evse_id
    where coalesce(sessions.ended_at, data_period.observed_until) > sessions.started_at
        and coalesce(sessions.ended_at, data_period.observed_until) > evse_periods.first_hour

),

session_hour_parts as (

    -- whole seconds from the session's start to each edge of the hour, and how much of the
    -- estimated charging time (charging first, then idle) lies before each edge
    select
        evse_id,
        hour_start,
        started_at,
        energy_units,
        charging_s,
        cast({{ overlap_seconds('started_at', 'occupied_until', 'hour_start', "hour_start + interval '1 hour'") }} as bigint)
            as occupied_s,
        least(greatest(cast({{ seconds_between('started_at', 'hour_start') }} as bigint), 0), charging_s) as charged_before_s,
        least(greatest(cast({{ seconds_between('started_at', "hour_start + interval '1 hour'") }} as bigint), 0), charging_s)
            as charged_by_end_s
    from (
        {{ hour_series('session_spans', "date_trunc('hour', session_spans.started_at)",
                       "session_spans.occupied_until - interval '1 second'") }}
    ) as spans

),

session_hours as (

    select
        evse_id,
        hour_start,
        sum(occupied_s) as occupied_s,
        sum(charged_by_end_s - charged_before_s) as charging_s,
        -- energy follows the charging time; cumulative rounding makes each session's hours add
        -- up to its energy exactly; a session without charging time puts it in its first hour
        sum(case
            when charging_s > 0
                then {{ round_half_up_ratio('energy_units * charged_by_end_s', 'charging_s') }}
                     - {{ round_half_up_ratio('energy_units * charged_before_s', 'charging_s') }}
            when hour_start = date_trunc('hour', started_at) then energy_units
            else 0
        end) as energy_units,
        count(case when hour_start = date_trunc('hour', started_at) then 1 end) as sessions_started
    from session_hour_parts
    group by 1, 2

),

final as (

    select
        evse_hours.organization_id,
        evse_hours.station_id,
        evse_hours.evse_id,
        evse_hours.hour_start,
        evse_hours.local_hour_start,
        cast(evse_hours.local_hour_start as date) as local_date,
        cast(extract(hour from evse_hours.local_hour_start) as integer) as local_hour,
        cast(extract(isodow from evse_hours.local_hour_start) as integer) as local_iso_weekday,
        cast(case when evse_hours.is_open_24_7 then 60 else coalesce(open_minutes_per_hour.open_minutes, 0) end
             as numeric(6, 2)) as open_minutes,
        cast(coalesce(maintenance_hours.maintenance_minutes, 0) as numeric(6, 2)) as maintenance_minutes,
        -- maintenance is taken out of the open time (exact unless an hour is both partly
        -- closed and partly under maintenance)
        cast(greatest(0,
            case when evse_hours.is_open_24_7 then 60 else coalesce(open_minutes_per_hour.open_minutes, 0) end
            - coalesce(maintenance_hours.maintenance_minutes, 0)
        ) as numeric(6, 2)) as available_minutes,
        -- two sessions on one EVSE at once would be a data error: never more than the hour
        cast(least(3600, coalesce(session_hours.occupied_s, 0)) / 60.0 as numeric(6, 2)) as occupied_minutes,
        cast(least(3600, coalesce(session_hours.charging_s, 0)) / 60.0 as numeric(6, 2)) as charging_minutes,
        cast(coalesce(session_hours.energy_units, 0) / 10000.0 as numeric(14, 4)) as energy_kwh,
        cast(coalesce(session_hours.sessions_started, 0) as bigint) as sessions_started,
        -- the build that wrote the row: the utilization marts re-sum what a later build rewrote
        {{ build_timestamp() }} as built_at

    from evse_hours
    left join open_minutes_per_hour
        on open_minutes_per_hour.evse_id = evse_hours.evse_id
        and open_minutes_per_hour.hour_start = evse_hours.hour_start
    left join maintenance_hours
        on maintenance_hours.organization_id = evse_hours.organization_id
        and maintenance_hours.station_id = evse_hours.station_id
        and maintenance_hours.hour_start = evse_hours.hour_start
    left join session_hours
        on session_hours.evse_id = evse_hours.evse_id
        and session_hours.hour_start = evse_hours.hour_start

)

select * from final
