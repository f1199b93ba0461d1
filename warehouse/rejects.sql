-- rejects: one row per input item of a batch that was not processed (with its reason), from
-- the current version of each batch; batch_snapshot is the snapshot that published it.
-- example: select reason, count(*), any_value(detail) from rejects group by 1
select
    *,
    snapshot_id as batch_snapshot
from stored.rejects
