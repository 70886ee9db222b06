with

source as (

    select * from {{ source('wirelane', 'price_models__elements') }}

),

renamed as (

    select
        _dlt_id as element_id,
        _dlt_parent_id as price_model_version_id,
        _dlt_list_idx as element_order

    from source

)

select * from renamed
