{#- Weekly opening hours of the stations that are not open 24/7: one row per opening interval,
    in local minutes of the day. dlt keeps each weekday's list of ["HHMM", "HHMM"] pairs in its own
    nested table, which exists only once some station has such a day. An end of "0000" is the end
    of the day, so ["0000", "0000"] is the whole day; a weekday without rows is closed. -#}

{%- set weekdays = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] %}

with

{% for weekday in weekdays %}
{{ weekday }}_intervals as (

    {{ source_or_empty('wirelane', 'charging_stations__availability__' ~ weekday,
        {'list': 'text', '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}

),
{% endfor %}

intervals as (

    {% for weekday in weekdays %}
    select
        _dlt_parent_id as station_row_id,
        {{ loop.index }} as iso_weekday,
        _dlt_list_idx as position,
        {{ json_array_text('list', 0) }} as opens_hhmm,
        {{ json_array_text('list', 1) }} as closes_hhmm
    from {{ weekday }}_intervals
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

stations as (

    select organization_id, station_id, station_row_id, is_open_24_7 from {{ ref('stg_wirelane__charging_stations') }}

),

in_minutes as (

    select
        stations.organization_id,
        stations.station_id,
        intervals.iso_weekday,
        intervals.position,
        cast(substr(intervals.opens_hhmm, 1, 2) as integer) * 60 + cast(substr(intervals.opens_hhmm, 3, 2) as integer)
            as opens_minute,
        coalesce(nullif(
            cast(substr(intervals.closes_hhmm, 1, 2) as integer) * 60 + cast(substr(intervals.closes_hhmm, 3, 2) as integer),
            0
        ), 1440) as closes_minute

    from intervals
    inner join stations on stations.station_row_id = intervals.station_row_id
    -- open247 makes the weekday lists meaningless (the reference says they are ignored)
    where not stations.is_open_24_7

)

select * from in_minutes
