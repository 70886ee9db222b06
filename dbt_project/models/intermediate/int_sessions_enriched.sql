{#- Each session with its connector and station, and the tariff and price model versions that
    applied when it started (by the API's change times; a session older than the first version we
    know of gets that first version, and says so). -#}
with

sessions as (

    select * from {{ ref('stg_wirelane__sessions') }}

),

connectors as (

    select * from {{ ref('stg_wirelane__connectors') }}

),

stations as (

    select * from {{ ref('stg_wirelane__charging_stations') }}

),

-- the time zone most of an organization's stations are in: the local dates of a session whose
-- EVSE is not loaded (yet) fall back to it, so the session still counts on a day (it is flagged
-- dq_unknown_evse, and rebuilt with its own station's zone once the EVSE is loaded). It reads
-- the staging view itself, not the `stations` CTE: a CTE read twice is materialized by DuckDB,
-- and fct_charging_sessions' incremental filter then no longer reached the sessions' scan
-- (its select 0.4 s to 1.8 s at 1,000,000 sessions)
organization_timezones as (

    select organization_id, mode() within group (order by timezone) as timezone
    from {{ ref('stg_wirelane__charging_stations') }}
    where timezone is not null
    group by 1

),

price_model_versions as (

    select * from {{ ref('int_price_model_settings') }}

),

tariff_versions as (

    select
        tariff_version_id,
        organization_id,
        tariff_id,
        coalesce(updated_at, created_at) as applies_from,
        lead(coalesce(updated_at, created_at)) over (
            partition by organization_id, tariff_id order by coalesce(updated_at, created_at), valid_from
        ) as applies_until,
        row_number() over (
            partition by organization_id, tariff_id order by coalesce(updated_at, created_at), valid_from
        ) = 1 as is_first_version
    from {{ ref('stg_wirelane__tariffs') }}

),

with_station as (

    select
        sessions.*,
        connectors.station_id,
        connectors.connector_id,
        connectors.power_kw as connector_power_kw,
        coalesce(connectors.timezone, stations.timezone, organization_timezones.timezone, 'UTC') as timezone,
        connectors.evse_id is not null as is_known_evse

    from sessions
    left join connectors on connectors.evse_id = sessions.evse_id
    left join stations
        on stations.organization_id = connectors.organization_id
        and stations.station_id = connectors.station_id
    left join organization_timezones on organization_timezones.organization_id = sessions.organization_id

),

with_versions as (

    select
        with_station.*,
        tariff_versions.tariff_version_id,
        price_model_versions.price_model_version_id

    from with_station
    left join tariff_versions
        on tariff_versions.organization_id = with_station.organization_id
        and tariff_versions.tariff_id = with_station.tariff_id
        and (tariff_versions.applies_from <= coalesce(with_station.started_at, with_station.created_at)
             or tariff_versions.is_first_version)
        and (tariff_versions.applies_until is null
             or tariff_versions.applies_until > coalesce(with_station.started_at, with_station.created_at))
    left join price_model_versions
        on price_model_versions.price_model_id = with_station.price_model_id
        and (price_model_versions.applies_from <= coalesce(with_station.started_at, with_station.created_at)
             or price_model_versions.is_first_version)
        and (price_model_versions.applies_until is null
             or price_model_versions.applies_until > coalesce(with_station.started_at, with_station.created_at))

)

select * from with_versions
