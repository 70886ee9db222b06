{#- Revenue per local end date (the billing date) and the dimensions a revenue report cuts by.

    Incremental: the days that can have changed since the last build are summed again in
    whole, for every organization, and replace their old rows (days_to_rebuild says which,
    and why that is all of them); a day left without billable sessions is deleted after. -#}
{{
    config(
        materialized='incremental',
        unique_key='local_end_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_emptied_days('local_end_date', 'sessions.local_end_date', \"sessions.status = 'closed' and sessions.price_excl_vat is not null\") }}"
    )
}}

with

sessions as (

    select * from {{ ref('fct_charging_sessions') }}

),

-- the same sessions as the post-hook's
billable as (

    select * from sessions
    where status = 'closed' and price_excl_vat is not null

),

billable_in_rebuilt_days as (

    {{ sessions_on_rebuilt_days('billable', 'local_end_date', 'local_end_date', 'billable_sessions') }}

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

    from billable_in_rebuilt_days
    group by 1, 2, 3, 4, 5, 6, 7, 8

),

final as (

    select
        *,
        {{ build_timestamp() }} as built_at
    from daily

)

select * from final
