"""The operations that span layers: ingest files (ingest -> store -> spatial).

``dispatch_analytics.ingest`` (the function) lives here; the CLI and the package facade call
it. It ranks above :mod:`.spatial`, below the outputs (CLI, dashboard).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import IngestError
from .ingest.profiles import SourceProfile
from .ingest.results import IngestReport, ProgressFn
from .io.sources import expand_paths
from .spatial.changed import assign_changed, ensure_assigned
from .spatial.zones import list_layers
from .store import Store
from .store.batches import ingest_files
from .store.crash import crash_point
from .store.spatial_tables import spatial_lock

__all__ = ["ingest", "finish_interrupted", "refresh_zone_assignment", "remove_batches"]


def ingest(
    paths: str | Path | Sequence[str | Path],
    profile: SourceProfile,
    data_dir: str | Path | None = None,
    dry_run: bool = False,
    chunk_rows: int = 100_000,
    progress: ProgressFn | None = None,
    h3_resolution: int | None = 8,
    refresh_derived: bool = True,
    replace: bool = False,
) -> IngestReport:
    """Ingest CAD / 911 export files into the store, one atomic batch per file.

    Parameters
    ----------
    paths : path or sequence of paths
        Files or glob patterns: CSV (any delimiter, UTF-8 / cp1252 / Latin-1), ``.gz``,
        Parquet or JSON lines.
    profile : SourceProfile
        From :func:`dispatch_analytics.profiles.load_profile`.
    data_dir : path, optional
        The store (see :func:`dispatch_analytics.store.resolve_data_dir`).
    dry_run : bool
        Validate and count everything, write nothing.
    chunk_rows : int
        Rows held in memory at once.
    progress : callable, optional
        ``progress(file, rows_done, rows_estimated)`` after every chunk.
    h3_resolution : int or None
        After the ingest the incidents the new batches touch are assigned to each loaded
        zone layer and to an H3 cell of this resolution (None: no cells); the others keep
        theirs. A resolution other than the stored cells' re-assigns every incident.
    refresh_derived : bool
        Fold the new batches into the derived incidents table (fast ``incidents`` queries):
        only the incidents they touch are recomputed, as a new part of the table. With
        False the view computes their incidents live until the next ingest.
    replace : bool
        A file ingested before with another profile or mapping replaces its earlier
        batch(es) in the same atomic step (without it, such a file is refused).

    Returns
    -------
    IngestReport

    Raises
    ------
    IngestError
        A file cannot be read or lacks a mapped column (nothing of that file is stored), or
        was ingested before with another profile and ``replace`` is False.
    StoreError
        Another process is writing to the store.

    Examples
    --------
    >>> from dispatch_analytics import load_profile, ingest
    >>> report = ingest("calls.csv", load_profile("sffd"))  # doctest: +SKIP
    >>> report.rows_read == report.rows_accepted + report.rows_rejected  # doctest: +SKIP
    True
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = expand_paths([str(p) for p in paths])
    if chunk_rows < 1:
        raise IngestError(f"`chunk_rows` must be >= 1, got {chunk_rows}")
    if dry_run:
        try:
            store = Store(data_dir, create=False)
        except Exception:
            store = None
        scratch = Path(tempfile.mkdtemp(prefix="dispatch-dry-"))
        try:
            return ingest_files(files, profile, store, scratch, True, chunk_rows, progress, replace)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    store = Store(data_dir)
    with store.write_lock():
        crash_point("ingest.locked")
        finish_interrupted(store, h3_resolution, refresh_derived)
        report = ingest_files(
            files, profile, store, store.tmp_dir, False, chunk_rows, progress, replace
        )
        # a replaced batch changes incidents even when the new file adds no rows
        changed = bool(report.rows_accepted) or (
            replace and any(not f.skipped for f in report.files)
        )
        if changed:  # under the writer lock: no batch is published meanwhile
            con = store.connect_attached()  # one connection for both steps
            try:
                if refresh_derived:
                    store.refresh_derived(con=con)
                report.zone_counts = refresh_zone_assignment(store, h3_resolution, con)
            finally:
                con.close()
    return report


def finish_interrupted(
    store: Store, h3_resolution: int | None = 8, refresh_derived: bool = True
) -> None:
    """Finish what a killed writer left undone (call under the writer lock).

    Deletes the folders of removed batches still there, refreshes the derived incidents
    table if it does not cover the batches in the ingest log, and redoes the zone / H3
    assignment if it does not cover the batches visible (``spatial/assigned.parquet``).
    Each check is cheap when there is nothing to do. Debris (staged batches, temporary
    files) is deleted by :meth:`Store.write_lock` itself.
    """
    from .store.removal import purge_removed

    purge_removed(store)
    if refresh_derived and store.derived_stale():
        store.refresh_derived()
    with spatial_lock(store.root):
        ensure_assigned(store.root, h3_resolution)


def refresh_zone_assignment(
    store: Store, h3_resolution: int | None = 8, con=None
) -> dict[str, dict[str, int]]:
    """Assign the incidents changed since the last assignment (those of the batches
    published or removed since) to each loaded zone layer and to an H3 cell; every other
    incident keeps its assignment (:func:`~dispatch_analytics.spatial.changed.assign_changed`,
    which falls back to assigning every incident when it must)."""
    if h3_resolution is None and not list_layers(store.root):
        return {}
    own = con is None
    con = store.connect_attached() if con is None else con
    try:
        return assign_changed(store.root, con, h3_resolution=h3_resolution, store=store)
    finally:
        if own:
            con.close()


def remove_batches(
    batch_ids: Sequence[str], data_dir: str | Path | None = None, h3_resolution: int | None = 8
):
    """Remove ingested batches (``dispatch batches remove``), atomically.

    One rename hides the batches from every view; their folders are then deleted, the
    derived incidents table refreshed and the removed batches' incidents re-assigned to the
    zone layers and H3 cells (or dropped from them), all under the writer lock.

    Parameters
    ----------
    batch_ids : sequence of str
        Ids from ``dispatch batches list`` (``ingest_log.batch_id``).
    data_dir : path, optional
    h3_resolution : int or None
        Resolution of the re-assigned H3 cells (None: leave the cells).

    Returns
    -------
    dispatch_analytics.store.removal.RemovalReport

    Raises
    ------
    StoreError
        An id is unknown or removed already (each is named), or another process is writing.
    """
    from .store.removal import publish_removal

    store = Store(data_dir, create=False)
    with store.write_lock():
        crash_point("remove.locked")
        finish_interrupted(store, h3_resolution)
        report = publish_removal(store, list(batch_ids))
        store.refresh_derived()
        refresh_zone_assignment(store, h3_resolution)
    return report
