with

groups as (

    {{ source_or_empty('wirelane', 'members__member_groups', {
        'id': 'text', 'tenant': 'text', 'name': 'text', 'all_organizations': 'boolean',
        '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}

),

members as (

    select organization_id, member_id, account_id, member_row_id from {{ ref('stg_wirelane__members') }}

),

renamed as (

    select
        members.organization_id,
        members.member_id,
        members.account_id,
        groups.id as member_group_id,
        groups.name as member_group_name,
        groups.tenant,
        coalesce(groups.all_organizations, false) as covers_all_organizations

    from groups
    inner join members on members.member_row_id = groups._dlt_parent_id

)

select * from renamed
