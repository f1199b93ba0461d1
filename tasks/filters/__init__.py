"""Filters: language identification and quality signals."""
