with

members as (

    select * from {{ ref('stg_wirelane__members') }}

),

group_counts as (

    select organization_id, member_id, count(*) as member_groups
    from {{ ref('stg_wirelane__member_groups') }}
    group by 1, 2

),

final as (

    select
        members.organization_id,
        members.member_id,
        members.account_id,
        members.membership_status,
        members.account_status,
        members.account_type,
        members.language,
        members.is_billable,
        members.city,
        members.country,
        members.account_created_at,
        members.email_hash,
        members.email_domain,
        cast(coalesce(group_counts.member_groups, 0) as bigint) as member_groups,
        members.is_deleted

    from members
    left join group_counts
        on group_counts.organization_id = members.organization_id
        and group_counts.member_id = members.member_id

)

select * from final
