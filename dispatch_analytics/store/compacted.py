"""The compacted layout of the lake: which files hold which batches, which files are hidden.

``dispatch compact`` (:mod:`.compact`) rewrites the rows of many small batch folders into a
few files, in one new folder of ``lake/batches/`` (a *compaction run*, named
``<UTC stamp>-compact-<4 hex>-v2``) published by one rename::

    lake/batches/<run>/
        responses-<agency>_<YYYY-MM>.parquet   accepted rows, one file per agency and month of
                                               call_received_at (sorted by it)
        rejects-<YYYY-MM>.parquet              rejected rows, by month of their batch's ingest
        ingest_log.parquet                     the ingest-log rows of every compacted batch
        manifest.parquet                       file, batch_id: which batches each file holds
        supersedes.parquet                     key, superseded_at, live: what this run
                                               replaces, and its own files' keys (live)

Every row keeps its ``batch_id``, ``source``, ``source_row`` and ``row_hash``; a compacted
row also carries ``compact_id`` = ``<run>/<file stem>``, the file it lives in. So every row
has a *key*: ``coalesce(compact_id, batch_id)`` = the batch folder it was ingested into, or
the compacted file it was moved to. ``supersedes.parquet`` lists the keys the run replaces
(the batch folders it compacted, the compacted files it merged); every view leaves out rows
whose key is listed, in the same rename that shows the new files; the rows of a run's own
files count only when a query listed the record naming them live (so a query whose listings
straddle the rename sees the old files, never neither or both: ``catalog_sql.live_sql``). Keys are never reused, so
a key once superseded stays hidden: the old files can be deleted later (after a grace period
for readers still scanning them, :func:`~.compact.purge_superseded`) without changing what
any view shows.

This module only reads the layout (no DuckDB); it is used by the Python readers of
:class:`~dispatch_analytics.store.reading.StoreReading`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

__all__ = [
    "COMPACT_MARK",
    "COMPACT_COLUMN",
    "LIVE_MARK",
    "SUPERSEDE_SCHEMA",
    "MANIFEST_SCHEMA",
    "Layout",
    "is_compact_run",
    "file_key",
    "file_kind",
    "read_layout",
]

#: A compaction run's folder name holds this mark (batch ids never do).
COMPACT_MARK = "-compact-"
#: The column of compacted rows naming the file they live in (``<run>/<file stem>``).
COMPACT_COLUMN = "compact_id"

#: ``supersedes.parquet``: the keys a run hides, and when it was written; and (``live``
#: true, no time) the keys of the run's own files, whose rows count only once this record is
#: listed (runs named with :data:`LIVE_MARK`; see ``catalog_sql.live_sql``).
SUPERSEDE_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(),
    "superseded_at": pl.Datetime("us", "UTC"),
    "live": pl.Boolean(),
}
#: The end of the names of runs whose rows need their ``live`` records (runs written before
#: it count without them).
LIVE_MARK = "-v2"
#: ``manifest.parquet``: one row per file of a run and batch it holds rows of.
MANIFEST_SCHEMA: dict[str, pl.DataType] = {"file": pl.String(), "batch_id": pl.String()}

_KINDS = ("responses", "rejects", "ingest_log")


def is_compact_run(name: str) -> bool:
    """True for the folder name of a compaction run."""
    return COMPACT_MARK in name


def file_kind(name: str) -> str | None:
    """The table kind of a data file's name (``responses``, ``rejects``, ``ingest_log``)."""
    if name == "ingest_log.parquet":
        return "ingest_log"
    for kind in ("responses", "rejects"):
        if name.startswith(kind + "-") and name.endswith(".parquet"):
            return kind
    return None


def file_key(path: Path) -> str:
    """The key of a data file: its batch folder's name, or ``<run>/<stem>`` in a run (a
    partition written as several files, ``<stem>.1.parquet`` ..., shares one key)."""
    if is_compact_run(path.parent.name):
        return f"{path.parent.name}/{path.name.split('.')[0]}"
    return path.parent.name


@dataclass
class Layout:
    """One listing of ``lake/batches``.

    Attributes
    ----------
    superseded : dict
        Key -> when it was superseded (the earliest record).
    originals : list of Path
        Batch folders not superseded (ingested batches, removal records, ``_init``).
    compacted : dict
        Kind -> live compacted files (not superseded) of that kind.
    holds : dict
        Live compacted file (str path) -> the batch ids it holds rows of.
    runs : list of Path
        Every compaction run folder on disk.
    stale : list of Path
        Superseded batch folders and superseded compacted files still on disk.
    """

    superseded: dict[str, object] = field(default_factory=dict)
    originals: list[Path] = field(default_factory=list)
    compacted: dict[str, list[Path]] = field(default_factory=dict)
    holds: dict[str, set[str]] = field(default_factory=dict)
    runs: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)

    def compacted_batches(self) -> set[str]:
        """Ids of the batches held by live compacted files."""
        out: set[str] = set()
        for ids in self.holds.values():
            out |= ids
        return out

    def files_of(self, kind: str, batches: set[str] | None) -> tuple[list[str], list[str]]:
        """(whole files, compacted files to filter by ``batch_id``) holding rows of
        ``batches`` (every live file when None)."""
        pattern = "ingest_log.parquet" if kind == "ingest_log" else f"{kind}-*.parquet"
        whole = []
        for folder in self.originals:
            if batches is None or folder.name in batches:
                whole += [str(f) for f in sorted(folder.glob(pattern))]
        part = [
            str(f)
            for f in self.compacted.get(kind, [])
            if batches is None or self.holds.get(str(f), set()) & batches
        ]
        return whole, part


def read_layout(batches_dir: Path) -> Layout:
    """List ``batches_dir`` once: supersede records, live folders and compacted files."""
    lay = Layout()
    folders = sorted(d for d in batches_dir.iterdir() if d.is_dir()) if batches_dir.is_dir() else []
    runs = [d for d in folders if is_compact_run(d.name)]
    lay.runs = runs
    sup_files = [
        str(d / "supersedes.parquet") for d in runs if (d / "supersedes.parquet").is_file()
    ]
    if sup_files:
        sup = (
            pl.scan_parquet(
                sup_files, schema=pl.Schema(SUPERSEDE_SCHEMA), glob=False, missing_columns="insert"
            )
            .filter(~pl.col("live").fill_null(False))
            .group_by("key")
            .agg(pl.col("superseded_at").min())
            .collect()
        )
        lay.superseded = dict(sup.iter_rows())
    for d in folders:
        if is_compact_run(d.name):
            continue
        (lay.stale if d.name in lay.superseded else lay.originals).append(d)
    man_files = [str(d / "manifest.parquet") for d in runs if (d / "manifest.parquet").is_file()]
    manifest: dict[str, set[str]] = {}
    if man_files:
        man = pl.scan_parquet(
            man_files,
            schema=pl.Schema(MANIFEST_SCHEMA),
            glob=False,
            include_file_paths="_path",
        ).collect()
        for path, name, batch in man.select("_path", "file", "batch_id").iter_rows():
            manifest.setdefault(str(Path(path).parent / name), set()).add(batch)
    lay.compacted = {k: [] for k in _KINDS}
    for d in runs:
        for f in sorted(d.iterdir()):
            kind = file_kind(f.name)
            if kind is None:
                continue
            if file_key(f) in lay.superseded:
                lay.stale.append(f)
            else:
                lay.compacted[kind].append(f)
                lay.holds[str(f)] = manifest.get(str(f), set())
    return lay
