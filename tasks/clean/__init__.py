"""Cleaning: text steps with an audit record, and markup undone."""
