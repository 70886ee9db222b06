with

sessions as (

    select * from {{ ref('fct_charging_sessions') }}

),

billable as (

    select * from sessions
    where status = 'closed' and price_excl_vat is not null

),

daily as (

    select
        local_end_date,
        organization_id,
        station_id,
        tariff_id,
        price_model_id,
        identification_type,
        roaming_provider,
        currency,
        count(*) as billable_sessions,
        cast(sum(energy_kwh) as numeric(38, 4)) as energy_kwh,
        cast(sum(price_excl_vat) as numeric(38, 4)) as revenue_net,
        cast(sum(vat_amount) as numeric(38, 4)) as revenue_vat,
        cast(sum(price_incl_vat) as numeric(38, 4)) as revenue_gross,
        count(case when price_excl_vat = 0 then 1 end) as free_sessions

    from billable
    group by 1, 2, 3, 4, 5, 6, 7, 8

)

select * from daily
