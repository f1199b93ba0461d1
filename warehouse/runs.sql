-- runs: one row per flow run: completed runs commit theirs with the batch they publish;
-- failed runs and runs that found nothing new record theirs alone.
-- example: select batch_id, status, n_input, n_documents, n_rejected from runs order by started_at desc
select *
from stored.runs
