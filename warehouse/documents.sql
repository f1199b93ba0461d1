-- documents: one row per document (doc_id), from the latest published version that holds it.
-- Per batch only its newest version counts; across batches the newest version wins, so a
-- document processed again (same or another batch) appears exactly once.
with scanned as (
    select *
    from read_parquet(
        '{lake}/*/*/documents/*.parquet',
        hive_partitioning = true,
        hive_types = {'batch': varchar, 'version': varchar},
        union_by_name = true
    )
),

-- from the file listing, not the rows: a new version with no rows in this table must still
-- replace the old one
listed_files as (
    select regexp_extract(
        file, 'batch=([^/]+)/version=([^/]+)/', ['batch', 'version']
    ) as partition_of
    from glob('{lake}/*/*/documents/*.parquet')
),

current_versions as (
    select partition_of.batch as batch, max(partition_of.version) as version
    from listed_files
    group by partition_of.batch
),

current_rows as (
    select scanned.*
    from scanned
    semi join current_versions using (batch, version)
),

ranked as (
    select
        * exclude (batch, version),
        version as batch_version,
        row_number() over (
            partition by doc_id order by version desc, batch desc
        ) as version_rank
    from current_rows
)

select * exclude (version_rank)
from ranked
where version_rank = 1
