-- runs: one row per flow run, as recorded in runs/v<schema>/<run_id>.parquet.
-- example: select batch_id, status, n_input, n_documents, n_rejected from runs order by started_at desc
select *
from lake.runs
