{#- The days of a daily mart built from fct_charging_sessions that an incremental build must sum
    again: those holding a session row fct_charging_sessions wrote after the mart's last build,
    and those whose session count no longer matches the count the mart holds (`count_column`
    summed).

    Why the second set: a rewritten session can leave a day (a corrected date, a session no
    longer billable), and fct_charging_sessions no longer has the day it left. A day that only
    lost sessions now counts fewer than the mart says; a day that also gained one holds a
    rewritten row and is in the first set. Together they are every day whose sums can differ
    from a full build. A day is the partition, for every organization at once: delete+insert
    on one key column replaces it with a semi-join (on several, dbt-duckdb joins every new row
    to every old row of its day). `upstream` is a CTE of the sessions the mart sums, with
    `built_at` and `day`, the mart's `mart_day`; the days come back as `day`. -#}
{% macro days_to_rebuild(upstream, day, mart_day, count_column) -%}

    select {{ day }}
    from {{ upstream }}
    where built_at > {{ last_built_at(this) }}

    union

    select coalesce(counted.{{ day }}, built.{{ mart_day }}) as {{ day }}
    from (
        select {{ day }}, count(*) as sessions
        from {{ upstream }}
        group by 1
    ) as counted
    full outer join (
        select {{ mart_day }}, sum({{ count_column }}) as sessions
        from {{ this }}
        group by 1
    ) as built
        on counted.{{ day }} = built.{{ mart_day }}
    where counted.sessions is distinct from built.sessions

{%- endmacro %}

{#- `upstream`'s sessions on the days to rebuild (all of them in a full build): what the mart sums. -#}
{% macro sessions_on_rebuilt_days(upstream, day, mart_day, count_column) -%}
    select * from {{ upstream }}
    {%- if is_incremental() %}
    where {{ day }} in ({{ days_to_rebuild(upstream, day, mart_day, count_column) }})
    {%- endif %}
{%- endmacro %}

{#- The post-hook of such a mart: delete+insert replaces the days the build summed, but a day
    left with no sessions has no new rows to replace it with, so its old rows go here.
    `day_expression` and `where` select the mart's sessions from fct_charging_sessions as the
    model does. `not exists` rather than `not in`: Postgres hashes a `not in` list only while it
    fits `work_mem`, and otherwise scans the whole list for every row. -#}
{% macro delete_emptied_days(day, day_expression, where='true') -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as built
    where not exists (
        select 1 from {{ ref('fct_charging_sessions') }} as sessions
        where ({{ where }}) and {{ day_expression }} = built.{{ day }}
    )
    {%- endif -%}
{%- endmacro %}
