with

source as (

    select * from {{ source('wirelane', 'tariffs__name') }}

),

renamed as (

    select
        _dlt_parent_id as tariff_version_id,
        language,
        text as name

    from source

)

select * from renamed
