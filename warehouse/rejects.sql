-- rejects: one row per input item of a batch that was not processed (with its reason),
-- from the latest version of each batch.
with scanned as (
    select *
    from read_parquet(
        '{lake}/*/*/rejects/*.parquet',
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
    from glob('{lake}/*/*/rejects/*.parquet')
),

current_versions as (
    select partition_of.batch as batch, max(partition_of.version) as version
    from listed_files
    group by partition_of.batch
)

select
    scanned.* exclude (batch, version),
    scanned.version as batch_version
from scanned
semi join current_versions using (batch, version)
