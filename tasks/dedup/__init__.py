"""Duplicates: exact and MinHash near duplicates, within and across batches."""
