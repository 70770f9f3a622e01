"""Writing batches: each input file is read through the ingest layer and published as one
atomic batch folder of the lake (responses, rejects, one ingest-log row).

A file is staged in a work folder under ``scratch`` (``lake/_tmp`` for a real ingest), moved
to ``lake/_tmp/<batch_id>`` and published by a rename, so a failed or interrupted file leaves
nothing in the lake. Rows equal to a row stored before, or to an earlier row of the same run,
are rejected as duplicates.

A file whose content was ingested before with the same profile (same canonical content,
:func:`profile_digest`) is skipped; with another profile it is refused, unless ``replace``:
then the new batch's folder also holds the record removing the earlier batch(es)
(:mod:`.removal`), so one rename publishes the new batch and hides the old ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from .._version import __version__
from ..errors import IngestError, StoreError
from ..ingest.columns import check_columns
from ..ingest.events import normalize_events
from ..ingest.normalize import normalize_chunk
from ..ingest.profiles import SourceProfile
from ..ingest.results import FileResult, IngestReport, ProgressFn
from ..io.sources import ROW_COL, SourceFile
from ..schema.tables import LOG_SCHEMA, RESPONSE_SCHEMA
from .crash import crash_point

if TYPE_CHECKING:
    from .compacted import Layout
    from .store import Store

__all__ = ["ingest_files", "new_batch_id", "profile_digest"]

_COMPRESSION: Final = "lz4"
#: chunk writes queued behind the one running (bounds the memory they hold)
_MAX_PENDING = 4
_SEEN_SCHEMA = {"row_hash": pl.UInt64, "source": pl.String, ROW_COL: pl.Int64}


def new_batch_id(sha: str) -> str:
    """A new batch id: UTC time, the file's hash prefix and a random suffix.

    Parameters
    ----------
    sha : str
        The file's SHA-256 (hex).

    Returns
    -------
    str
        ``YYYYmmddTHHMMSSffffff-<sha[:8]>-<4 hex>``; ids sort by creation time.
    """
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}-{sha[:8]}-{uuid.uuid4().hex[:4]}"


def profile_digest(profile: SourceProfile) -> str:
    """SHA-256 (hex) of a profile's canonical content: every setting that shapes the stored
    rows, as sorted JSON (its file path and description do not count)."""
    content = dataclasses.asdict(profile)
    for k in ("path", "description"):
        content.pop(k, None)
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Run:
    """One :func:`ingest_files` call: its settings and what it has seen so far."""

    profile: SourceProfile
    store: Store | None  # None for a dry run without a data directory
    scratch: Path
    dry_run: bool
    chunk_rows: int
    progress: ProgressFn | None
    #: row_hash, source, source_row of every row read in this run (the stored ones are
    #: looked up per chunk: :meth:`lookup`)
    seen: pl.DataFrame
    #: file sha256 -> batch id, for files ingested in this run
    done_shas: dict[str, str] = field(default_factory=dict)
    #: remove earlier batches of a file ingested with another profile (``--replace``)
    replace: bool = False
    #: batches whose rows do not count as stored (being replaced)
    exclude: set[str] = field(default_factory=set)
    #: the stored files the lookup reads (listed once per run, again after a replace)
    stored_files: tuple[set[str], Layout] | None = None

    def lookup(self, hashes: pl.Series) -> pl.DataFrame:
        """``row_hash, source, source_row`` of the rows seen before with one of ``hashes``:
        stored ones (a semi-join against the stored hashes, :meth:`Store.seen_rows`) first,
        then this run's; one row per hash."""
        frames = []
        if self.store is not None:
            if self.stored_files is None:
                self.stored_files = self.store.seen_files(self.exclude)
            frames.append(self.store.seen_rows(hashes=hashes, files=self.stored_files))
        frames.append(self.seen.filter(pl.col("row_hash").is_in(hashes.implode())))
        both = pl.concat(
            [f.select(list(_SEEN_SCHEMA)).cast(pl.Schema(_SEEN_SCHEMA)) for f in frames]
        )
        return both.unique("row_hash", keep="first", maintain_order=True)


@dataclass
class _Tally:
    """What the accepted rows of one file add up to."""

    reasons: Counter = field(default_factory=Counter)
    inc_ids: list[pl.Series] = field(default_factory=list)
    unit_keys: list[pl.Series] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, acc: pl.DataFrame, rej: pl.DataFrame) -> None:
        """Count one chunk's accepted and rejected rows."""
        self.reasons.update(rej["reason"].to_list())
        if acc.height:
            self.inc_ids.append(acc["incident_id"].unique())
            self.unit_keys.append(acc["unit_id"].drop_nulls().unique())
            lo, hi = _time_range(acc["call_received_at"])
            self.first = lo if self.first is None else min(self.first, lo)
            self.last = hi if self.last is None else max(self.last, hi)


def _time_range(received: pl.Series) -> tuple[datetime, datetime]:
    """The earliest and latest of the accepted rows' ``call_received_at`` (never null)."""
    lo, hi = received.min(), received.max()
    if not isinstance(lo, datetime) or not isinstance(hi, datetime):
        raise IngestError("internal error: accepted rows without a call_received_at")
    return lo, hi


def ingest_files(
    files: list[Path],
    profile: SourceProfile,
    store: Store | None,
    scratch: Path,
    dry_run: bool,
    chunk_rows: int,
    progress: ProgressFn | None,
    replace: bool = False,
) -> IngestReport:
    """Ingest files one batch each: read, normalise, stage, and (unless a dry run) publish.

    Parameters
    ----------
    files : list of Path
        The input files, in order.
    profile : SourceProfile
    store : Store or None
        The store published into and checked for duplicates; None only for a dry run.
    scratch : Path
        Where work folders are made (the store's ``tmp_dir`` for a real ingest).
    dry_run : bool
        Stage and count everything, publish nothing.
    chunk_rows : int
        About how many rows are read and validated at a time.
    progress : callable or None
        ``progress(source, rows_read, estimated_rows)`` after every chunk.
    replace : bool
        A file ingested before with another profile replaces its earlier batch(es) in the
        same atomic step (otherwise it is refused).

    Returns
    -------
    IngestReport
        One :class:`FileResult` per file, in order.

    Raises
    ------
    IngestError
        When a file cannot be read or does not fit the profile, or was ingested before with
        another profile (without ``replace``); files before it stay published.
    """
    seen = pl.DataFrame(schema=_SEEN_SCHEMA)
    run = _Run(profile, store, scratch, dry_run, chunk_rows, progress, seen)
    run.replace = replace
    results = [_ingest_file(run, path) for path in files]
    return IngestReport(files=results, profile=profile.name, dry_run=dry_run)


def _ingest_file(run: _Run, path: Path) -> FileResult:
    """One file -> one published batch (or a skip when its content was ingested before)."""
    t0 = time.perf_counter()
    started = datetime.now(UTC)
    work = run.scratch / f"work-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        profile, store = run.profile, run.store
        src = SourceFile(
            path,
            work,
            delimiter=profile.delimiter,
            encoding=profile.encoding,
            null_values=profile.null_values,
            sheet=profile.sheet,
        )
        check_columns(profile, src.columns, path)
        res = FileResult(
            source=str(path),
            encoding=src.encoding_used if src.kind == "csv" else None,
            encoding_note=src.encoding_note,
            kind=" in ".join([src.kind, *reversed(src.unpacked)]),
            delimiter=src.delimiter,
        )
        prior = run.done_shas.get(src.sha256)
        if prior:
            res.skipped_as = prior
            return res
        same, other = _earlier_batches(run, src.sha256, str(path))
        if same:
            res.skipped_as = same
            return res
        batch_id = new_batch_id(src.sha256)
        stage = work / batch_id
        stage.mkdir()
        if other and store is not None:
            from .removal import write_removal

            _forget_rows(run, set(other))
            write_removal(store, other, stage)
            crash_point("ingest.removal_written")
        tally = _write_chunks(run, src, str(path), batch_id, stage, res)
        crash_point("ingest.chunks_written")
        if res.rows_read != res.rows_accepted + res.rows_rejected:  # pragma: no cover
            raise IngestError(f"{path}: internal error: rows do not add up")
        res.batch_id = batch_id
        res.rejects_by_reason = dict(tally.reasons.most_common())
        res.incidents = pl.concat(tally.inc_ids).n_unique() if tally.inc_ids else 0
        res.units = pl.concat(tally.unit_keys).n_unique() if tally.unit_keys else 0
        res.first_received_at, res.last_received_at = tally.first, tally.last
        res.seconds = time.perf_counter() - t0
        _log_row(res, src, profile, started).write_parquet(stage / "ingest_log.parquet")
        crash_point("ingest.log_written")
        if not run.dry_run:
            if store is None:
                raise IngestError("internal error: a real ingest without a store")
            final = store.tmp_dir / batch_id
            if stage != final:
                shutil.move(str(stage), str(final))
            store.publish(final)
            crash_point("ingest.published")
            if other:  # the earlier batches are hidden now; delete their folders
                from .removal import purge_removed

                purge_removed(store)
        run.done_shas[src.sha256] = batch_id
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _earlier_batches(run: _Run, sha: str, path: str) -> tuple[str | None, list[str]]:
    """(a batch of this file made by this profile, batches of it made by other profiles).

    Raises :class:`IngestError` for the second kind unless ``run.replace``."""
    if run.store is None:
        return None, []
    log = run.store.ingest_log().filter(pl.col("file_sha256") == sha)
    if log.is_empty():
        return None, []
    digest = profile_digest(run.profile)
    # batches logged before profiles were hashed match by the profile's name
    mine = (pl.col("profile_sha256") == digest) | (
        pl.col("profile_sha256").is_null() & (pl.col("profile") == run.profile.name)
    )
    same = log.filter(mine)
    if not same.is_empty():
        return same["batch_id"][0], []
    other = log["batch_id"].to_list()
    if not run.replace:
        first = log.row(0, named=True)
        how = f"--profile {run.profile.name}"
        if run.profile.path:
            how = f"--mapping {run.profile.path}"
        raise IngestError(
            f"{path} was ingested before as batch {first['batch_id']} with profile "
            f"{first['profile']!r} (profile hash {str(first['profile_sha256'] or '?')[:12]}); "
            f"this run's profile {run.profile.name!r} differs (hash {digest[:12]}). To replace "
            f"that batch with this mapping: `dispatch ingest {path} {how} --replace` (or remove "
            f"it: `dispatch batches remove {' '.join(other)}`)"
        )
    return None, other


def _forget_rows(run: _Run, batches: set[str]) -> None:
    """Stop counting the rows of ``batches`` as stored: they are being replaced, so the new
    batch's equal rows are not duplicates of them."""
    if run.store is None:  # pragma: no cover - replace needs a store
        raise StoreError("internal error: replace without a store")
    run.exclude |= batches
    run.stored_files = None  # listed again without them


def _write_chunks(
    run: _Run, src: SourceFile, source: str, batch_id: str, stage: Path, res: FileResult
) -> _Tally:
    """Normalise the file chunk by chunk into ``stage``; count rows into ``res``.

    A background thread writes chunk i while chunk i + 1 is parsed; every chunk's row
    hashes join ``run.seen`` so later chunks and files see its rows as duplicates.
    """
    est = src.estimate_rows()
    tally = _Tally()
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: list[Future] = []
        for i, chunk in enumerate(_chunks(run, src)):
            if run.profile.grain == "event":  # a status log: the whole file, pivoted
                acc, rej, unknown, used = normalize_events(
                    chunk, run.profile, source, batch_id, run.lookup, src.columns
                )
                res.unknown_statuses = dict(unknown.most_common())
            else:
                acc, rej = normalize_chunk(
                    chunk, run.profile, source, batch_id, run.lookup, src.columns
                )
                used = acc.height
            res.rows_read += chunk.height
            res.rows_accepted += used
            res.rows_rejected += rej.height
            if acc.height == 0:
                acc = pl.DataFrame(schema=RESPONSE_SCHEMA)
            res.rows_flagged += int(acc["stage_flags"].is_not_null().sum())
            for flag, k in acc["location_flag"].drop_nulls().value_counts().rows():
                res.unlocated_by_reason[flag] = res.unlocated_by_reason.get(flag, 0) + k
            tally.add(acc, rej)
            for kind, frame in (("responses", acc), ("rejects", rej)):
                if frame.height:
                    out = stage / f"{kind}-{i:05d}.parquet"
                    pending.append(
                        writer.submit(frame.write_parquet, out, compression=_COMPRESSION)
                    )
            new = pl.concat([acc.select(list(_SEEN_SCHEMA)), rej.select(list(_SEEN_SCHEMA))])
            run.seen = pl.concat([run.seen, new.unique("row_hash", keep="first")])
            if run.progress:
                run.progress(source, res.rows_read, est)
            while len(pending) > _MAX_PENDING:
                pending.pop(0).result()
        for fut in pending:
            fut.result()
    return tally


def _chunks(run: _Run, src: SourceFile):
    """The file's chunks; a status log as one frame (a unit's events must be pivoted together:
    its memory is the file's)."""
    if run.profile.grain != "event":
        yield from src.chunks(run.chunk_rows)
        return
    parts = list(src.chunks(run.chunk_rows))
    if parts:
        yield pl.concat(parts, how="vertical_relaxed")


def _log_row(
    res: FileResult, src: SourceFile, profile: SourceProfile, started: datetime
) -> pl.DataFrame:
    """The batch's one ingest-log row."""
    row = {
        "batch_id": res.batch_id,
        "source": res.source,
        "file_sha256": src.sha256,
        "file_bytes": src.file_bytes,
        "profile": profile.name,
        "grain": profile.grain,
        "timezone": profile.timezone,
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "rows_read": res.rows_read,
        "rows_accepted": res.rows_accepted,
        "rows_rejected": res.rows_rejected,
        "incidents": res.incidents,
        "units": res.units,
        "first_received_at": res.first_received_at,
        "last_received_at": res.last_received_at,
        "tool_version": __version__,
        "profile_sha256": profile_digest(profile),
    }
    return pl.DataFrame([row], schema=LOG_SCHEMA)
