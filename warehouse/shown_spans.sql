-- shown_spans(table_name): a table macro, not a view. The rows of one span table (paragraphs,
-- sentences, tokens, entities, noun_chunks) that belong to the document versions `documents`
-- shows (same doc_id, batch and version), so superseded versions and re-processed documents
-- vanish. Each span view is `select * from shown_spans('<table>')`.
with scanned as (
    select *
    from read_parquet(
        '{lake}/*/*/' || table_name || '/*.parquet',
        hive_partitioning = true,
        hive_types = {'batch': varchar, 'version': varchar},
        union_by_name = true
    )
),

shown as (
    select doc_id, batch_id, batch_version
    from documents
)

select
    scanned.* exclude (batch, version),
    scanned.batch as batch_id,
    scanned.version as batch_version
from scanned
semi join shown
    on scanned.doc_id = shown.doc_id
    and scanned.batch = shown.batch_id
    and scanned.version = shown.batch_version
