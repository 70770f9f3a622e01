"""Data access for the dashboard: a materialised snapshot of the store, rebuilt when it changes.

Interactions are answered from DuckDB tables (``inc``: one row per incident with local time
parts, zone per layer and H3 cell; ``units``: one row per unit response), so a callback never
re-aggregates the lake. The tables are one DuckDB file per data version under
``<data dir>/cache/dashboard/``, built once under a lock and attached read-only by every
server worker. A new version is built when the store's batches change (another process
ingested), which the app checks every ``refresh_s`` seconds.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from dispatch_analytics.errors import DispatchError
from dispatch_analytics.metrics.queries import prepare
from dispatch_analytics.schema.intervals import intervals
from dispatch_analytics.store import Store
from dispatch_analytics.store.derived_sql import reason_columns

from .results_cache import ResultsCache, remove_other_versions, version_digest

_log = logging.getLogger(__name__)

__all__ = ["INTERVALS", "dashboard_intervals", "DataSource", "Snapshot", "data_version"]


def dashboard_intervals() -> dict[str, tuple[str, str, str]]:
    """The intervals the dashboard shows, from the interval registry: name -> (label, start
    column, end column) (the ``incidents`` columns the interval is computed from)."""
    return {iv.name: (iv.label, iv.start_column, iv.end_column) for iv in intervals(dashboard=True)}


#: Incident-level intervals: name -> (label, start field, end field)
INTERVALS: dict[str, tuple[str, str, str]] = dashboard_intervals()


#: incident columns of ``inc`` besides the intervals and their start / end columns
_INC_KEEP = [
    "call_received_at",
    "first_dispatched_at",
    "first_on_scene_at",
    "first_arriving_unit",
    "units_assigned",
    "units_on_scene",
]


def _columns(ivs, prefix: str, keep: list[str]) -> str:
    """``keep`` plus every interval's column and its start / end columns (no repeats)."""
    cols = list(keep)
    for iv in ivs:
        # and what its excluded_reason reads (stage_flags: the stages excluded at ingest)
        for c in (iv.start_column, iv.end_column, iv.column, *reason_columns(iv)):
            if c not in cols:
                cols.append(c)
    return ", ".join(f"{prefix}.{c}" for c in cols)


def data_version(store: Store) -> str:
    """A cheap token that changes whenever a batch is added to the store."""
    batches = sorted(
        p.name for p in store.batches_dir.iterdir() if p.is_dir() and not p.name.startswith("_")
    )
    spatial = store.root / "spatial"
    stamp = (
        max((p.stat().st_mtime_ns for p in spatial.rglob("*.parquet")), default=0)
        if spatial.exists()
        else 0
    )
    return f"{len(batches)}:{batches[-1] if batches else '-'}:{stamp}"


@dataclass
class Snapshot:
    """An in-memory DuckDB database with the dashboard tables for one data version (and the
    catalog's views and statistics macros)."""

    version: str
    con: duckdb.DuckDBPyConnection
    layers: list[str]
    has_cells: bool
    #: the store's agencies, newest data first: ``[(agency, timezone), ...]``
    agencies: list[tuple[str, str | None]] = field(default_factory=list)
    #: the snapshot's database file (shared by every server worker), None when in memory
    path: Path | None = None
    #: the version's result files shared by every worker (None: results stay in this process)
    results: ResultsCache | None = None

    def __post_init__(self):
        self._memo: dict = {}
        self._memo_lock = threading.Lock()
        self._cursors: set = set()
        self._stopped = False

    def memo(self, key, build):
        """Cache a computed result for this data version (filters are part of ``key``)."""
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        value = build()
        with self._memo_lock:
            if len(self._memo) > 512:
                self._memo.clear()
            self._memo[key] = value
        return value

    def shared(self, name: str, args: tuple, build):
        """``name(*args)`` computed once per data version for every worker and thread: this
        process's memo, then the version's result file (:class:`ResultsCache`), else
        ``build()`` under the key's lock (its result written for the others)."""
        key = ("shared", name, args)
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        if self.results is None or self.results.version != self.version:
            return self.memo(key, build)
        return self.memo(key, lambda: self.results.get(name, args, build))

    @property
    def default_agency(self) -> str | None:
        """The agency the dashboard opens on: the one with the newest call (or the only one)."""
        return self.agencies[0][0] if self.agencies else None

    def agency(self, name: str | None) -> str | None:
        """``name`` when it is an agency of the snapshot, else the default agency."""
        names = [a for a, _ in self.agencies]
        return name if name in names else self.default_agency

    def timezone(self, agency: str | None) -> str | None:
        """The agency's time zone (its calls' most common one)."""
        return dict(self.agencies).get(agency)

    def layers_of(self, agency: str | None) -> list[str]:
        """The zone layers holding some of ``agency``'s calls (every layer when None)."""
        if agency is None:
            return list(self.layers)
        return self.memo(("layers_of", agency), lambda: self._layers_of(agency))

    def default_layer(self, agency: str | None) -> str | None:
        """The agency's layer preselected in the filter bar: the one of the most zones (the
        finest: station areas before battalions)."""
        layers = self.layers_of(agency)
        if len(layers) <= 1:
            return layers[0] if layers else None

        def build():
            counts = ", ".join(f'count(distinct "zone__{lyr}")' for lyr in layers)
            cond = "agency = $a" if agency is not None else "true"
            row = self.query(
                f"select {counts} from inc where {cond}", {"a": agency} if agency else {}
            )
            return max(zip(layers, row.row(0), strict=True), key=lambda t: (t[1], t[0]))[0]

        return self.memo(("default_layer", agency), build)

    def _layers_of(self, agency: str) -> list[str]:
        if not self.layers:
            return []
        counts = ", ".join(f'count("zone__{lyr}") as "{lyr}"' for lyr in self.layers)
        row = self.query(f"select {counts} from inc where agency = $a", {"a": agency}).row(0)
        return [lyr for lyr, n in zip(self.layers, row, strict=True) if n]

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the snapshot for one question (safe from several threads); the
        snapshot can interrupt it (:meth:`interrupt`)."""
        with self._memo_lock:
            if self._stopped:
                raise DispatchError("the dashboard is stopping; ask again once it restarts")
            cur = self.con.cursor()
            self._cursors.add(cur)
        try:
            yield cur
        finally:
            with self._memo_lock:
                self._cursors.discard(cur)
            cur.close()

    def query(self, sql: str, params: dict | None = None) -> pl.DataFrame:
        """Run SQL on a cursor of the snapshot (safe to call from several threads)."""
        with self.cursor() as cur:
            return cur.execute(sql, params or {}).pl()

    def interrupt(self) -> None:
        """Stop every question running on the snapshot's cursors and refuse new ones (the
        process is exiting: a query left running would hold its exit)."""
        with self._memo_lock:
            self._stopped = True
            running = list(self._cursors)
        for cur in running:
            try:
                cur.interrupt()
            except duckdb.Error:  # already finished
                pass


class DataSource:
    """The store as the dashboard sees it: a snapshot per data version, built on demand.

    The snapshot is one DuckDB database file per data version under
    ``<data dir>/cache/dashboard/``, built once (by whichever process or thread asks first,
    under an exclusive ``fcntl`` lock, written to a temporary name then renamed) and opened
    read-only by every server worker: N workers share one file, not N private copies.
    """

    def __init__(self, data_dir: str | Path | None = None, h3_resolution: int = 8):
        self.store = Store(data_dir)
        self.h3_resolution = h3_resolution
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        #: how many snapshots this process built (the others it opened)
        self.builds = 0
        #: computes the default views' results of a new data version (set by the app; run
        #: in a background thread by the first process to open the version)
        self.warm_up: Callable[[DataSource], None] | None = None
        #: the warm-up thread of the version this process warms (None: it warms none)
        self.warm_thread: threading.Thread | None = None

    @property
    def cache_dir(self) -> Path:
        """The folder of the snapshot files (``<data dir>/cache/dashboard``)."""
        return self.store.root / "cache" / "dashboard"

    def version(self) -> str:
        return data_version(self.store)

    def snapshot(self) -> Snapshot:
        """The current snapshot; rebuilt if the store changed since the last one."""
        v = self.version()
        snap = self._snapshot
        if snap is not None and snap.version == v:
            return snap
        with self._lock:
            if self._snapshot is None or self._snapshot.version != v:
                self._snapshot = self._open(v)
                self._start_warm_up(self._snapshot)
            return self._snapshot

    def _start_warm_up(self, snap: Snapshot) -> None:
        """The first process to open a data version (the one that creates its results
        folder) computes the default views in a background thread, so that the first viewer
        reads them instead of paying for them."""
        if self.warm_up is None or snap.results is None:
            return
        try:
            snap.results.folder.mkdir(parents=True)
        except FileExistsError:
            return  # another process (or an earlier start) warms this version
        warm = self.warm_up

        def run():
            try:
                warm(self)
            except Exception:  # a view that fails here fails again, visibly, for its viewer
                _log.exception("dashboard warm-up of %s failed", snap.version)

        self.warm_thread = threading.Thread(target=run, name="dashboard-warm-up", daemon=True)
        self.warm_thread.start()
        # a worker told to stop while warming: the running query must not hold its exit
        # (a daemon thread inside DuckDB blocks the interpreter's finalisation)
        atexit.register(_stop_warm_up, self.warm_thread, snap)

    def snapshot_path(self, version: str) -> Path:
        """The snapshot file of one data version."""
        return self.cache_dir / f"snapshot-{version_digest(version)}.duckdb"

    # ------------------------------------------------------------------ open / build
    def _open(self, version: str) -> Snapshot:
        """Open the version's snapshot file, building it first if no process has."""
        path = self.snapshot_path(version)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _flock(self.cache_dir / "build.lock", fcntl.LOCK_SH):
            if path.exists():
                return self._attach(version, path)
        with _flock(self.cache_dir / "build.lock", fcntl.LOCK_EX):
            if not path.exists():
                self._build_file(version, path)
                self.builds += 1
            # older versions' files: workers that still read one keep it open (unlinked)
            for old in self.cache_dir.glob("snapshot-*.duckdb*"):
                if old != path:
                    old.unlink(missing_ok=True)
            remove_other_versions(self.cache_dir, version)  # and their results
            return self._attach(version, path)

    def _attach(self, version: str, path: Path) -> Snapshot:
        """An in-memory connection with the snapshot file attached read-only as ``snap``;
        the catalog's views and the statistics macros are created in memory."""
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")
        for stmt in self.store.view_sql():
            con.execute(stmt)
        con.execute(f"attach '{_sql_str(path)}' as snap (read_only)")
        # the snapshot's `units` table (unit responses) replaces the catalog's `units` view
        # (home stations), which the dashboard reads through the library instead
        con.execute("drop view if exists units")
        for t in ("inc", "units", "rejects_t", "log_t"):
            con.execute(f"create view {t} as select * from snap.main.{t}")
        prepare(con)  # the statistics macros (da_fractiles) the dashboard's questions use
        meta = json.loads(con.execute("select meta from snap.main.snapshot_meta").fetchone()[0])
        return Snapshot(
            version=version,
            con=con,
            layers=meta["layers"],
            has_cells=meta["has_cells"],
            agencies=[tuple(a) for a in meta["agencies"]],
            path=path,
            results=ResultsCache(self.cache_dir, version, current=path.exists),
        )

    def _build_file(self, version: str, path: Path) -> None:
        """Write the snapshot tables of ``version`` to a temporary file, then rename it."""
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.unlink(missing_ok=True)
        con = duckdb.connect()
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("set enable_progress_bar = false")
            con.execute(f"attach '{_sql_str(tmp)}' as out")
            meta = self._build(con)
            con.execute("create table out.snapshot_meta (meta varchar)")
            con.execute("insert into out.snapshot_meta values ($m)", {"m": json.dumps(meta)})
            con.execute("checkpoint out")
            con.execute("detach out")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            con.close()
        os.replace(tmp, path)

    # Long: one statement per snapshot table, each with its column list; split it would
    # scatter the one place that says what the dashboard's tables hold
    def _build(self, con: duckdb.DuckDBPyConnection) -> dict:
        for stmt in self.store.view_sql():
            con.execute(stmt)
        views = {
            r[0]
            for r in con.execute(
                "select view_name from duckdb_views() where database_name = 'memory'"
            ).fetchall()
        }
        layers: list[str] = []
        if "incident_zones" in views:
            layers = [
                r[0]
                for r in con.execute(
                    "select distinct layer from incident_zones order by 1"
                ).fetchall()
            ]
        zone_cols = ", ".join(f'z{k}.zone_id as "zone__{lyr}"' for k, lyr in enumerate(layers))
        zone_joins = " ".join(
            f"left join (select agency, incident_id, zone_id from incident_zones "
            f"where layer = '{lyr}') "
            f"z{k} using (agency, incident_id)"
            for k, lyr in enumerate(layers)
        )
        has_cells = False
        if "incident_cells" in views:
            has_cells = bool(con.execute("select count(*) from incident_cells").fetchone()[0])
        cell_col = ", c.h3_cell" if has_cells else ""
        cell_join = (
            "left join (select agency, incident_id, any_value(h3_cell) as h3_cell "
            "from incident_cells group by all) c using (agency, incident_id)"
            if has_cells
            else ""
        )
        con.execute(
            f"""
            create table out.inc as
            with base as (
              select *, call_received_local_at as received_local from incidents
            )
            select i.agency, i.incident_id, i.call_type, coalesce(i.call_category, 'other') as call_category,
              i.priority, i.station_id, i.latitude, i.longitude,
              {_columns(intervals(dashboard=True), "i", _INC_KEEP)}, i.received_local,
              cast(i.received_local as date) as local_date,
              hour(i.received_local) as local_hour,
              isodow(i.received_local) as local_weekday
              {"," if zone_cols else ""} {zone_cols} {cell_col}
            from base i {zone_joins} {cell_join}
            order by i.agency, local_date
            """
        )
        con.execute(
            f"""
            create table out.units as
            select r.agency, r.incident_id, r.unit_id, r.unit_type, r.station_id,
              coalesce(r.call_category, 'other') as call_category, r.call_type, r.priority,
              {_columns(intervals("unit", stored=True), "r", ["cleared_at"])},
              cast(r.call_received_local_at as date) as local_date,
              (epoch_us(r.cleared_at) - epoch_us(r.dispatched_at)) / 1e6 as busy_s
            from responses r
            order by r.agency, local_date
            """
        )
        con.execute("create table out.rejects_t as select * from rejects")
        con.execute("create table out.log_t as select * from ingest_log")
        agencies = [
            [r[0], r[1]]
            for r in con.execute(
                "select agency, mode(timezone) from incidents where agency is not null "
                "group by agency order by max(call_received_at) desc nulls last, agency"
            ).fetchall()
        ]
        return {"layers": layers, "has_cells": has_cells, "agencies": agencies}


def _stop_warm_up(thread: threading.Thread, snap: Snapshot) -> None:
    if thread.is_alive():
        snap.interrupt()
        thread.join(timeout=10)


def _sql_str(p: Path) -> str:
    return str(p).replace("'", "''")


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    """Hold an ``fcntl.flock`` on ``path`` (shared or exclusive) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
