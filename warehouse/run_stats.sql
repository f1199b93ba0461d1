-- run_stats: one row per flow run (from `runs`): its counts, how long it took and the
-- resulting rates. The rates are NULL when the run has no duration (unfinished, or 0 s).
-- example: select run_id, batch_id, status, duration_s, docs_per_s, tokens_per_s from run_stats order by started_at desc
with timed as (
    select
        *,
        epoch(finished_at) - epoch(started_at) as duration_s
    from runs
)

select
    run_id,
    batch_id,
    status,
    started_at,
    finished_at,
    duration_s,
    n_input,
    n_documents,
    n_rejected,
    n_duplicates,
    n_tokens,
    n_entities,
    n_documents / nullif(duration_s, 0) as docs_per_s,
    n_tokens / nullif(duration_s, 0) as tokens_per_s,
    n_shards,
    n_shards_reused,
    model,
    pipeline_version
from timed
order by started_at, run_id
