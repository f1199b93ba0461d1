-- rejects_by_reason: one row per (batch_id, reason) of the rejected input items: how many, and
-- one example, always the same for the same data: the item with the smallest source_uri.
-- example: select batch_id, reason, items, example_source_uri, example_detail from rejects_by_reason order by items desc
with ranked as (
    select
        batch_id,
        reason,
        source_uri,
        detail,
        count(*) over (partition by batch_id, reason) as items,
        row_number() over (
            partition by batch_id, reason
            order by source_uri nulls last, detail nulls last
        ) as example_rank
    from rejects
)

select
    batch_id,
    reason,
    items,
    source_uri as example_source_uri,
    detail as example_detail
from ranked
where example_rank = 1
order by batch_id, items desc, reason
