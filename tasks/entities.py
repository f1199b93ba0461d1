"""Entity mention post-processing: the canonical form that `entity_counts` groups by."""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")
_POSSESSIVE = re.compile(r"(?:['’]s|s['’])$")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")

# Labels whose surface form is a name; a leading "the" is part of the phrase, not the name.
_NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT"})


def canonical_name(text: str, label: str) -> str:
    """A normalised form of a mention: single spaces, no leading "the" or possessive, no
    surrounding punctuation. Case is kept: "US" and "us" are different things."""
    name = _SPACES.sub(" ", text).strip()
    if label in _NAME_LABELS:
        name = _LEADING_THE.sub("", name)
        if name.endswith(("'s", "’s")):
            name = name[:-2]
        elif name.endswith(("s'", "s’")):
            name = name[:-1]
    stripped = _EDGE_PUNCT.sub("", name)
    return stripped or name
