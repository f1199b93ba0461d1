"""The DuckDB side: one .sql file per view, building and read-only querying."""
