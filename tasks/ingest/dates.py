"""Publication dates as sources give them -> timezone-aware UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_published_at(value: str | None) -> datetime | None:
    """Parse ISO 8601 (date or date-time, `Z` allowed) or RFC 2822 dates; None if unparseable.

    Naive times are taken as UTC; the raw string is kept beside the parsed value either way.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
