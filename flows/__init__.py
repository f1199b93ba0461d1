"""Prefect flows, settings and the docmill command line."""
