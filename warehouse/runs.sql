-- runs: one row per flow run, as recorded in runs/<run_id>.parquet.
with scanned as (
    select *
    from read_parquet(
        '{runs}/*.parquet',
        hive_partitioning = false,
        union_by_name = true
    )
)

select *
from scanned
