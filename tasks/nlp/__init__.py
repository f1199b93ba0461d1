"""Tagging with spaCy: the pipeline, annotation into Arrow columns, entities."""
