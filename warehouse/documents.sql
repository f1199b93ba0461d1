-- documents: one row per document (doc_id), from the batch that published it last. A batch
-- holds one version at a time (a rerun replaces its rows in one commit); across batches the
-- newest publish wins, so a document processed again (same or another batch) appears exactly
-- once. batch_snapshot is the snapshot that published the row (`docmill history` lists them).
-- example: select doc_id, title, n_sentences, n_entities from documents order by n_entities desc limit 5
with published as (
    select
        *,
        snapshot_id as batch_snapshot
    from stored.documents
)

select *
from published
qualify row_number() over (
    partition by doc_id order by batch_snapshot desc, batch_id desc
) = 1
