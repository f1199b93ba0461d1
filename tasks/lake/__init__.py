"""The lake: the data directory's layout, staging, locks, the DuckLake catalog, publishing."""
