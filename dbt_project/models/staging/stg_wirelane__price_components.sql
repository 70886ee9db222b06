with

source as (

    select * from {{ source('wirelane', 'price_models__elements__price_components') }}

),

renamed as (

    select
        _dlt_parent_id as element_id,
        _dlt_list_idx as position,
        type as dimension,
        -- ENERGY per kWh, TIME and PARKING_TIME per minute (the unit the reference leaves open;
        -- simulator/README.md "Pricing rules" says what we chose)
        cast(price as numeric(18, 4)) as price_excl_vat,
        coalesce(step_size, 1) as step_size

    from source

)

select * from renamed
