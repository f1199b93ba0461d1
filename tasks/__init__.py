"""Processing steps: plain Python over docmill records; no Prefect here."""
