"""Where everything of one data directory lives: the one place that builds its paths.

```
<data_dir>/catalog.sqlite                      the DuckLake catalog (catalog.py)
<data_dir>/tables/stored/<table>/*.parquet     the data files it holds
<data_dir>/_staging/<batch_id>/prepared/<key>/{prepared,rejects}.parquet + _SUCCESS.json
<data_dir>/_staging/<batch_id>/shards/<shard_key>/<table>.parquet + _SUCCESS.json
<data_dir>/_staging/<batch_id>/plan.json       the items a run of the batch is processing
<data_dir>/_locks/<batch_id>.lock
```

The data directory may be an object-store prefix (`s3://bucket/prefix`, filesystem.py). The
catalog (when embedded), the report and the locks always live on the local machine
(`Layout.local_dir`).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.lake.filesystem import Location

BATCH_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class InvalidBatchId(ValueError):
    pass


def validate_batch_id(batch_id: str) -> str:
    """Refuse ids that could escape the data directory or break a path or a partition name."""
    if not BATCH_ID_PATTERN.fullmatch(batch_id or "") or ".." in batch_id:
        raise InvalidBatchId(
            f"invalid batch id {batch_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no slashes, no '..')"
        )
    return batch_id


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything lives under one data directory (a local path or an object-store
    prefix); the embedded catalog, the report and the locks always live on this machine."""

    data_dir: Location

    @classmethod
    def at(cls, data_dir: str | os.PathLike[str] | Location) -> Layout:
        """The layout of a data directory as a user gives it (path or `s3://bucket/prefix`)."""
        return cls(filesystem.location(data_dir))

    @property
    def on_object_store(self) -> bool:
        return filesystem.is_object_store(self.data_dir)

    @property
    def local_dir(self) -> Path:
        return filesystem.local_state_dir(self.data_dir)

    @property
    def catalog(self) -> catalog.CatalogTarget:
        """The catalog: DOCMILL_CATALOG, else catalog.sqlite beside the data."""
        return catalog.target_for(self.data_dir)

    @property
    def tables(self) -> Location:
        """Where the catalog's data files live."""
        return self.data_dir / catalog.TABLES_DIR

    @property
    def report_dir(self) -> Path:
        return self.local_dir / "report"

    def staging(self, batch_id: str) -> Location:
        return self.data_dir / "_staging" / batch_id

    def shard_dir(self, batch_id: str, shard_key: str) -> Location:
        return self.staging(batch_id) / "shards" / shard_key

    def prepared_dir(self, batch_id: str, shard_key: str) -> Location:
        return self.staging(batch_id) / "prepared" / shard_key

    def lock_file(self, batch_id: str) -> Path:
        return self.local_dir / "_locks" / f"{batch_id}.lock"


def new_version() -> str:
    """A version string that sorts by publish time, with a random tail against clock ties."""
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]
