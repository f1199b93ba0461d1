-- documents: one row per document (doc_id), from the latest published version that holds it.
-- Per batch only its newest version counts; across batches the newest version wins, so a
-- document processed again (same or another batch) appears exactly once.
-- example: select doc_id, title, n_sentences, n_entities from documents order by n_entities desc limit 5
with ranked as (
    select
        * exclude (batch, version),
        version as batch_version,
        row_number() over (
            partition by doc_id order by version desc, batch desc
        ) as version_rank
    from lake.documents
)

select * exclude (version_rank)
from ranked
where version_rank = 1
