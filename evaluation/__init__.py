"""Measuring docmill: `docmill eval` against gold data, `docmill bench` against bare spaCy."""
