"""Compaction (``dispatch compact``): many small batch folders -> a few time-partitioned files.

A live feed publishes one batch folder per poll; every view globs them all. Compaction
rewrites the rows of the batch folders into one new *run* folder (layout in
:mod:`.compacted`): accepted rows in one file per agency and month of ``call_received_at``
(merged with that partition's earlier compacted file, if any), rejects in one file per month
of their batch, every compacted batch's ingest-log row in one file. Rows are copied
unchanged (``batch_id``, ``source``, ``source_row``, ``row_hash`` kept) plus ``compact_id``.

**One rename publishes it.** The run folder is staged in ``lake/_tmp``; its
``supersedes.parquet`` lists the batch folders and compacted files it replaces; renaming it
into ``lake/batches`` shows the new files and hides the old ones in the same step, so a
reader sees the old files or the new ones, never both and never neither.

**Readers are never blocked.** DuckDB opens the files of a scan lazily, so a file deleted
while a query that listed it is running fails that query. The replaced files therefore stay
on disk (hidden) for ``grace_s`` seconds (``$DISPATCH_COMPACT_GRACE_S``, default 600) and
are deleted by the first writer after that (any ``ingest``, ``dispatch watch`` cycle,
``batches remove`` or ``compact``), renamed into ``lake/_tmp`` first.

**Removal.** ``dispatch batches remove`` of a compacted batch hides it at once (its removal
record); the writer then rewrites the compacted files holding its rows without them
(:func:`drop_removed`), published like a compaction run.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from ..errors import StoreError
from ..sql import sql_str as _sql_str
from .assignment_parts import fold_assignment
from .compacted import (
    COMPACT_COLUMN,
    COMPACT_MARK,
    LIVE_MARK,
    MANIFEST_SCHEMA,
    SUPERSEDE_SCHEMA,
    Layout,
    file_key,
)
from .crash import crash_point
from .superseded import DEFAULT_GRACE_S, GRACE_ENV, grace_seconds, purge_superseded

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "GRACE_ENV",
    "DEFAULT_GRACE_S",
    "CompactReport",
    "compact",
    "drop_removed",
    "purge_superseded",
    "grace_seconds",
]

ProgressFn = Callable[[str, int, int], None]

#: accepted rows: one file per agency (a readable slug plus a hash) and UTC month
_RESPONSE_PART = (
    "left(regexp_replace(coalesce(agency, profile, 'none'), '[^A-Za-z0-9]+', '-', 'g'), 24) "
    "|| '-' || left(md5(coalesce(agency, profile, '')), 6) || '_' "
    "|| coalesce(strftime(call_received_at, '%Y-%m'), 'undated')"
)
#: rejects: one file per month of their batch (batch ids start with the UTC time, YYYYmmdd)
_REJECT_PART = (
    "case when regexp_matches(batch_id, '^[0-9]{6}') "
    "then substr(batch_id, 1, 4) || '-' || substr(batch_id, 5, 2) else 'other' end"
)


@dataclass
class CompactReport:
    """What a compaction did (or, for a dry run, would do).

    Attributes
    ----------
    batches : list of str
        The batch ids compacted (their folders replaced).
    files_written : list of str
        The files of the new run (``responses-<agency>_<YYYY-MM>`` ...).
    merged : int
        Earlier compacted files merged into the new ones.
    run : str or None
        The run folder published (None: nothing done, or a dry run).
    folders_before, folders_after, files_before, files_after : int
        Batch folders (and run folders) and data files the views read, before and after.
    bytes_before, bytes_after : int
        Their size on disk.
    waiting : int
        Replaced folders and files kept on disk for running readers (deleted after the
        grace period by the next writer).
    derived_parts : int
        Parts of the derived incidents table before (more than one: folded into one, unless
        a dry run).
    seconds : float
    dry_run : bool
    """

    batches: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    merged: int = 0
    derived_parts: int = 0
    run: str | None = None
    folders_before: int = 0
    folders_after: int = 0
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    waiting: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def nothing_to_do(self) -> bool:
        """True when no batch was (or would be) compacted."""
        return not self.batches and not self.files_written


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join(_sql_str(p) for p in paths) + "]"


def _footprint(lay: Layout) -> tuple[int, int, int]:
    """(folders, data files, bytes) the views read."""
    files = [Path(f) for fs in lay.compacted.values() for f in fs]
    for d in lay.originals:
        files += [f for f in d.iterdir() if f.suffix == ".parquet"]
    live_runs = {f.parent for f in files if COMPACT_MARK in f.parent.name}
    size = sum(f.stat().st_size for f in files)
    return len(lay.originals) + len(live_runs), len(files), size


def _candidates(
    store: Store, lay: Layout, agencies: list[str] | None, con: duckdb.DuckDBPyConnection
) -> list[Path]:
    """The batch folders to compact: ingested batches (not ``_init``, not removal records,
    not ``--replace`` batches, whose removal record must stay in its folder), not removed,
    of the chosen agencies only."""
    removed = store.removed_batches()
    folders = [
        d
        for d in lay.originals
        if d.name != "_init"
        and d.name not in removed
        and (d / "ingest_log.parquet").is_file()
        and not (d / "removes.parquet").exists()
    ]
    if agencies is None or not folders:
        return folders
    wanted = set(agencies)
    files = [str(f) for d in folders for f in d.glob("responses-*.parquet")]
    files += [str(f) for d in folders for f in d.glob("rejects-*.parquet")]
    by_batch: dict[str, set[str]] = {}
    if files:
        rows = con.execute(
            f"select distinct batch_id, coalesce(agency, profile) from read_parquet("
            f"{_sql_list(files)}, union_by_name = true)"
        ).fetchall()
        for batch, agency in rows:
            if agency is not None:
                by_batch.setdefault(batch, set()).add(agency)
    return [d for d in folders if by_batch.get(d.name) and by_batch[d.name] <= wanted]


def _check_agencies(con: duckdb.DuckDBPyConnection, store: Store, agencies: list[str]) -> None:
    known = {
        r[0]
        for r in con.execute(
            f"select distinct coalesce(agency, profile) from {store.read_sql('responses')}"
        ).fetchall()
        if r[0] is not None
    }
    unknown = [a for a in agencies if a not in known]
    if unknown:
        raise StoreError(
            "`--agency`: no rows of "
            + ", ".join(repr(a) for a in unknown)
            + " in this store; its agencies are "
            + (", ".join(sorted(known)) or "(none)")
            + " (or pass `--agency all`)"
        )


def _connect(store: Store) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    spill = store.tmp_dir / f"compact-spill-{os.getpid()}"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"set temp_directory = {_sql_str(str(spill))}")
    return con


def _write_parts(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    sources: list[str],
    part_sql: str,
    kind: str,
    stage: Path,
    run: str,
    exclude: set[str],
) -> list[str]:
    """Copy the rows of ``sources`` (minus batches in ``exclude``) into one file per
    partition, ``<kind>-<part>.parquet`` in ``stage``; returns the file names."""
    if not sources:
        return []
    sources = [*sources, str(store.schema_file(kind))]  # every column, compact_id too
    work = stage / f"_{kind}"
    keep = f"where batch_id not in ({', '.join(_sql_str(b) for b in sorted(exclude))})"
    query = (
        f"select * exclude (_p), {_sql_str(run + '/' + kind + '-')} || _p as {COMPACT_COLUMN}, "
        f"_p from (select * exclude ({COMPACT_COLUMN}), {part_sql} as _p from "
        f"read_parquet({_sql_list(sources)}, union_by_name = true) "
        f"{keep if exclude else ''}) order by _p, "
        + ("call_received_at, " if kind == "responses" else "")
        + "batch_id, source_row"
    )
    con.execute(
        f"copy ({query}) to {_sql_str(str(work))} (format parquet, compression zstd, "
        "partition_by (_p), write_partition_columns false, filename_pattern 'part{i}')"
    )
    names = []
    for part_dir in sorted(work.iterdir()) if work.exists() else []:
        part = part_dir.name.split("=", 1)[1]
        for i, f in enumerate(sorted(part_dir.glob("*.parquet"))):
            name = f"{kind}-{part}" + (f".{i}" if i else "") + ".parquet"
            os.rename(f, stage / name)
            names.append(name)
    shutil.rmtree(work, ignore_errors=True)
    return names


def _write_log(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    sources: list[str],
    stage: Path,
    run: str,
    exclude: set[str],
) -> list[str]:
    if not sources:
        return []
    sources = [*sources, str(store.schema_file("ingest_log"))]
    keep = f"where batch_id not in ({', '.join(_sql_str(b) for b in sorted(exclude))})"
    con.execute(
        f"copy (select * exclude ({COMPACT_COLUMN}), {_sql_str(run + '/ingest_log')} as "
        f"{COMPACT_COLUMN} from read_parquet({_sql_list(sources)}, union_by_name = true) "
        f"{keep if exclude else ''} order by batch_id) to "
        f"{_sql_str(str(stage / 'ingest_log.parquet'))} (format parquet, compression zstd)"
    )
    return ["ingest_log.parquet"]


def _finish_stage(stage: Path, names: list[str], keys: list[str]) -> None:
    """Write the run's manifest and supersede record."""
    frames = [
        pl.read_parquet(stage / n, columns=["batch_id"])
        .unique()
        .select(pl.lit(n).alias("file"), "batch_id")
        for n in names
    ]
    manifest = (pl.concat(frames) if frames else pl.DataFrame(schema=MANIFEST_SCHEMA)).cast(
        pl.Schema(MANIFEST_SCHEMA)
    )
    manifest.write_parquet(stage / "manifest.parquet")
    now = datetime.now(UTC)
    hidden = sorted(set(keys))
    # the run's own files: their rows count only once a query has listed this record
    live = sorted({f"{stage.name}/{n.split('.')[0]}" for n in names})
    pl.DataFrame(
        {
            "key": hidden + live,
            "superseded_at": [now] * len(hidden) + [None] * len(live),
            "live": [False] * len(hidden) + [True] * len(live),
        },
        schema=SUPERSEDE_SCHEMA,
    ).write_parquet(stage / "supersedes.parquet")


def _run_name() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}{COMPACT_MARK}{uuid.uuid4().hex[:4]}{LIVE_MARK}"


# Long: the plan, the three kinds' rewrites and the publish read best as one sequence
def compact(
    store: Store,
    agencies: list[str] | None = None,
    min_batches: int = 2,
    dry_run: bool = False,
    grace_s: float | None = None,
    progress: ProgressFn | None = None,
) -> CompactReport:
    """Compact the store's batch folders into time-partitioned files (call under the
    writer lock, after finishing an interrupted writer).

    Parameters
    ----------
    store : Store
    agencies : list of str, optional
        Compact only batches whose rows are all of these agencies (None: every batch).
    min_batches : int
        Do nothing unless at least this many batch folders are waiting.
    dry_run : bool
        Plan and count, write nothing.
    grace_s : float, optional
        Seconds the replaced files stay for running readers (:func:`grace_seconds`).
    progress : callable, optional
        ``progress(step, done, total)`` after each step.

    Returns
    -------
    CompactReport

    Raises
    ------
    StoreError
        ``min_batches`` < 1, a bad grace period, or an agency without rows in the store.
    """
    t0 = time.perf_counter()
    if min_batches < 1:
        raise StoreError(f"`--min-batches` must be >= 1, got {min_batches}; e.g. 2")
    grace = grace_seconds(grace_s)
    if not dry_run:  # what earlier runs replaced, once its grace period is over
        purge_superseded(store, grace)
    lay = store.layout()
    report = CompactReport(dry_run=dry_run)
    # the derived incidents table's parts (one per ingest since its last full build) are
    # folded back into one as well; batch ids do not change, so its coverage stays valid
    report.derived_parts = len(store.derived_parts())
    if not dry_run and report.derived_parts > 1:
        store.compact_derived()
    if not dry_run:  # ... and so are the zone / H3 assignment's (.assignment_parts)
        fold_assignment(store.root)
    report.folders_before, report.files_before, report.bytes_before = _footprint(lay)
    con = _connect(store)
    try:
        if agencies is not None:
            _check_agencies(con, store, agencies)
        folders = _candidates(store, lay, agencies, con)
        if len(folders) < max(min_batches, 1):
            report.folders_after, report.files_after, report.bytes_after = _footprint(lay)
            report.waiting = len(lay.stale)
            report.seconds = time.perf_counter() - t0
            return report
        report.batches = [d.name for d in folders]
        new = {
            kind: [str(f) for d in folders for f in sorted(d.glob(pattern))]
            for kind, pattern in (
                ("responses", "responses-*.parquet"),
                ("rejects", "rejects-*.parquet"),
                ("ingest_log", "ingest_log.parquet"),
            )
        }
        # earlier compacted files of the partitions the new rows fall into are merged
        merge: dict[str, list[str]] = {}
        for kind, part_sql in (("responses", _RESPONSE_PART), ("rejects", _REJECT_PART)):
            parts: set[str] = set()
            if new[kind]:
                parts = {
                    r[0]
                    for r in con.execute(
                        f"select distinct {part_sql} from read_parquet("
                        f"{_sql_list(new[kind])}, union_by_name = true)"
                    ).fetchall()
                }
            merge[kind] = [
                str(f)
                for f in lay.compacted[kind]
                if f.name.split(".")[0].split("-", 1)[1] in parts
            ]
        merge["ingest_log"] = [str(f) for f in lay.compacted["ingest_log"]]
        report.merged = sum(len(v) for v in merge.values())
        if dry_run:
            report.files_written = _planned_names(con, new, merge)
            report.seconds = time.perf_counter() - t0
            return report
        run = _run_name()
        stage = store.tmp_dir / run
        stage.mkdir(parents=True)
        names: list[str] = []
        steps = [("responses", _RESPONSE_PART), ("rejects", _REJECT_PART), ("ingest_log", "")]
        for i, (kind, part_sql) in enumerate(steps):
            sources = merge[kind] + new[kind]
            if kind == "ingest_log":
                names += _write_log(con, store, sources, stage, run, set())
            else:
                names += _write_parts(con, store, sources, part_sql, kind, stage, run, set())
            if progress:
                progress(f"writing {kind}", i + 1, len(steps))
        keys = report.batches + [file_key(Path(f)) for fs in merge.values() for f in fs]
        _finish_stage(stage, names, keys)
        crash_point("compact.staged")
        store.publish(stage)
        crash_point("compact.published")
        report.run, report.files_written = run, names
    finally:
        con.close()
        shutil.rmtree(store.tmp_dir / f"compact-spill-{os.getpid()}", ignore_errors=True)
    purge_superseded(store, grace)
    after = store.layout()
    report.folders_after, report.files_after, report.bytes_after = _footprint(after)
    report.waiting = len(after.stale)
    crash_point("compact.done")
    report.seconds = time.perf_counter() - t0
    return report


def _planned_names(
    con: duckdb.DuckDBPyConnection, new: dict[str, list[str]], merge: dict[str, list[str]]
) -> list[str]:
    """The files a run would write (a dry run)."""
    names = []
    for kind, part_sql in (("responses", _RESPONSE_PART), ("rejects", _REJECT_PART)):
        sources = merge[kind] + new[kind]
        if sources:
            rows = con.execute(
                f"select distinct {part_sql} from read_parquet({_sql_list(sources)}, "
                "union_by_name = true) order by 1"
            ).fetchall()
            names += [f"{kind}-{r[0]}.parquet" for r in rows]
    if merge["ingest_log"] or new["ingest_log"]:
        names.append("ingest_log.parquet")
    return names


def drop_removed(store: Store, grace_s: float | None = None) -> str | None:
    """Rewrite the compacted files holding rows of removed batches without those rows, in
    one new run folder superseding them (call under the writer lock; idempotent). Returns
    the run published, or None when no compacted file holds a removed batch."""
    removed = store.removed_batches()
    if not removed:
        return None
    lay = store.layout()
    hit = {
        kind: [str(f) for f in files if lay.holds.get(str(f), set()) & removed]
        for kind, files in lay.compacted.items()
    }
    if not any(hit.values()):
        return None
    run = _run_name()
    stage = store.tmp_dir / run
    stage.mkdir(parents=True)
    con = _connect(store)
    try:
        names = _write_parts(
            con, store, hit["responses"], _RESPONSE_PART, "responses", stage, run, removed
        )
        names += _write_parts(
            con, store, hit["rejects"], _REJECT_PART, "rejects", stage, run, removed
        )
        names += _write_log(con, store, hit["ingest_log"], stage, run, removed)
    finally:
        con.close()
        shutil.rmtree(store.tmp_dir / f"compact-spill-{os.getpid()}", ignore_errors=True)
    _finish_stage(stage, names, [file_key(Path(f)) for fs in hit.values() for f in fs])
    store.publish(stage)
    purge_superseded(store, grace_s)
    return run
