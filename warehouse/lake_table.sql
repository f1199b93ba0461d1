-- lake.{table}: generated for every stored table (warehouse/lake_scan.py), not a view of its
-- own. One row per row of the current version of each batch, with the batch and version it
-- belongs to, wherever the rows are stored: loose files under lake/ or a compacted generation.
-- A batch's current version is its newest in either place (a batch published again after
-- compaction has a newer loose version). Of the copies of that version the oldest is read: the
-- loose files, else the oldest generation. A newer copy appears while queries run, and one
-- query lists files more than once; an older copy was in every listing, and goes only after the
-- grace period. So no row is counted twice or lost while compaction swaps files, and no view
-- has to be rebuilt for it: compaction takes effect when the copies it replaces are removed.
with loose_versions as (
    -- from the file listing, not the rows: a new version with no rows in this table must still
    -- replace the old one
    select regexp_extract(
        file, 'batch=([^/]+)/version=([^/]+)/', ['batch', 'version']
    ) as partition_of
    from glob('{lake}/batch=*/version=*/{table}/*.parquet')
    {published_only}
),

stored_versions as (
    select
        partition_of.batch as batch,
        partition_of.version as version,
        '' as generation
    from loose_versions
    union all
    select batch, version, generation
    from read_parquet(
        '{compacted}/generation=*/batches.parquet',
        hive_partitioning = true,
        hive_types = {'generation': varchar}
    )
),

current_copies as (
    select batch, version, generation
    from stored_versions
    qualify row_number() over (
        partition by batch order by version desc, generation asc
    ) = 1
),

stored_rows as (
    select *, '' as generation
    from (
        {loose_scan}
    )
    union all by name
    {compacted_scan}
)

-- an IN filter, not a semi join: DuckDB then builds its hash table on the few current copies and
-- streams the rows past it (as a semi join it may build on the rows instead)
select * exclude (generation)
from stored_rows
where (batch, version, generation) in (select (batch, version, generation) from current_copies)
