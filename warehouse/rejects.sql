-- rejects: one row per input item of a batch that was not processed (with its reason),
-- from the latest version of each batch.
-- example: select reason, count(*), any_value(detail) from rejects group by 1
select
    * exclude (batch, version),
    version as batch_version
from lake.rejects
