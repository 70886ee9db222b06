with

daily as (

    select * from {{ ref('mart_revenue_daily') }}

),

monthly as (

    select
        cast(date_trunc('month', local_end_date) as date) as month,
        organization_id,
        currency,
        cast(sum(billable_sessions) as bigint) as billable_sessions,
        cast(sum(energy_kwh) as numeric(38, 4)) as energy_kwh,
        cast(sum(revenue_net) as numeric(38, 4)) as revenue_net,
        cast(sum(revenue_vat) as numeric(38, 4)) as revenue_vat,
        cast(sum(revenue_gross) as numeric(38, 4)) as revenue_gross,
        cast(sum(free_sessions) as bigint) as free_sessions

    from daily
    group by 1, 2, 3

)

select * from monthly
