-- noun_chunks: one row per noun chunk of the document versions that `documents` shows (same
-- doc_id, batch and version), so superseded versions and re-processed documents vanish.
-- Only the accurate profile has noun chunks: the fast one runs without a parser.
with scanned as (
    select *
    from read_parquet(
        '{lake}/*/*/noun_chunks/*.parquet',
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
