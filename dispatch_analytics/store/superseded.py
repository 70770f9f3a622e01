"""Deleting what compaction replaced (:mod:`.compact`), once no reader can still need it.

A compaction run hides the batch folders and compacted files it replaces in the rename that
publishes it (:mod:`.compacted`), but DuckDB opens a scan's files lazily: a query that listed
a file before the rename fails if the file is deleted before it opens it. So replaced folders
and files stay on disk, hidden, for a grace period (``$DISPATCH_COMPACT_GRACE_S``, default
600 s), and the first writer after it deletes them (renamed into ``lake/_tmp`` first).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ..errors import StoreError
from .compacted import file_key, file_kind
from .crash import crash_point

if TYPE_CHECKING:
    from .store import Store

__all__ = ["GRACE_ENV", "DEFAULT_GRACE_S", "grace_seconds", "purge_superseded"]

#: Seconds replaced files stay on disk for readers still scanning them.
GRACE_ENV = "DISPATCH_COMPACT_GRACE_S"
DEFAULT_GRACE_S = 600.0


def grace_seconds(grace_s: float | None = None) -> float:
    """The grace period: ``grace_s``, else ``$DISPATCH_COMPACT_GRACE_S``, else 600 s."""
    if grace_s is not None:
        value: object = grace_s
    else:
        value = os.environ.get(GRACE_ENV, DEFAULT_GRACE_S)
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out = -1.0
    if out < 0:
        raise StoreError(
            f"the grace period must be a number of seconds >= 0, got {value!r}; set "
            f"`--grace-s` (or ${GRACE_ENV}) to e.g. 600"
        )
    return out


def purge_superseded(store: Store, grace_s: float | None = None) -> int:
    """Delete replaced batch folders and compacted files superseded more than ``grace_s``
    seconds ago, then run folders left without data whose replaced files are all gone
    (call under the writer lock; idempotent). Each is renamed into ``lake/_tmp`` first.
    Returns how many folders and files were deleted."""
    grace = grace_seconds(grace_s)
    lay = store.layout()
    if not lay.runs:
        return 0
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    deleted = 0
    for path in lay.stale:
        at = lay.superseded.get(path.name if path.is_dir() else file_key(path))
        if not isinstance(at, datetime) or at > cutoff:
            continue
        _trash(store, path)
        crash_point("compact.purge.renamed")
        deleted += 1
    lay = store.layout()
    on_disk = {d.name for d in lay.originals + [p for p in lay.stale if p.is_dir()]}
    on_disk |= {file_key(p) for p in lay.stale if p.is_file()}
    on_disk |= {file_key(f) for fs in lay.compacted.values() for f in fs}
    for run in lay.runs:
        if any(file_kind(f.name) for f in run.iterdir()):
            continue  # still holds data (live, or waiting for its grace period)
        sup = run / "supersedes.parquet"
        targets = set()
        if sup.is_file():
            rec = pl.read_parquet(sup)
            if "live" in rec.columns:  # the run's own keys are not targets
                rec = rec.filter(~pl.col("live").fill_null(False))
            targets = set(rec["key"].to_list())
        if targets & on_disk:
            continue
        _trash(store, run)
        deleted += 1
    return deleted


def _trash(store: Store, path: Path) -> None:
    """Move ``path`` into ``lake/_tmp`` (one rename) and delete it there."""
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    trash = store.tmp_dir / f"purge-{path.parent.name}-{path.name}-{os.getpid()}"
    os.rename(path, trash)
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)
