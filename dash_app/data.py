"""Data access for the dashboard: a materialised snapshot of the store, rebuilt when it changes.

Interactions are answered from DuckDB tables held in memory (``inc``: one row per incident
with local time parts, zone per layer and H3 cell; ``units``: one row per unit response), so a
callback never re-aggregates the lake. The snapshot is rebuilt when the store's ingest log
changes (another process ingested), which the app checks every ``refresh_s`` seconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from dispatch_analytics.metrics.queries import prepare
from dispatch_analytics.schema.intervals import intervals
from dispatch_analytics.store import Store
from dispatch_analytics.store.derived_sql import reason_columns

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

    def __post_init__(self):
        self._memo: dict = {}
        self._memo_lock = threading.Lock()

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

    def query(self, sql: str, params: dict | None = None) -> pl.DataFrame:
        """Run SQL on a cursor of the snapshot (safe to call from several threads)."""
        cur = self.con.cursor()
        try:
            return cur.execute(sql, params or {}).pl()
        finally:
            cur.close()


class DataSource:
    """The store as the dashboard sees it: a snapshot per data version, built on demand."""

    def __init__(self, data_dir: str | Path | None = None, h3_resolution: int = 8):
        self.store = Store(data_dir)
        self.h3_resolution = h3_resolution
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

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
                self._snapshot = self._build(v)
            return self._snapshot

    # ------------------------------------------------------------------ build
    def _build(self, version: str) -> Snapshot:
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        for stmt in self.store.view_sql():
            con.execute(stmt)
        views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
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
            f"left join (select agency, incident_id, zone_id from incident_zones where layer = '{lyr}') "
            f"z{k} using (agency, incident_id)"
            for k, lyr in enumerate(layers)
        )
        con.execute("set enable_progress_bar = false")
        con.execute(
            f"""
            create table inc as
            with base as (
              select *, call_received_local_at as received_local from incidents
            )
            select i.agency, i.incident_id, i.call_type, coalesce(i.call_category, 'other') as call_category,
              i.priority, i.station_id, i.latitude, i.longitude,
              {_columns(intervals(dashboard=True), "i", _INC_KEEP)}, i.received_local,
              cast(i.received_local as date) as local_date,
              hour(i.received_local) as local_hour,
              isodow(i.received_local) as local_weekday
              {"," if zone_cols else ""} {zone_cols}
            from base i {zone_joins}
            order by local_date
            """
        )
        has_cells = False
        if "incident_cells" in views:
            n = con.execute("select count(*) from incident_cells").fetchone()[0]
            if n:
                con.execute("alter table inc add column h3_cell varchar")
                con.execute(
                    "update inc set h3_cell = c.h3_cell from incident_cells c "
                    "where c.agency = inc.agency and c.incident_id = inc.incident_id"
                )
                has_cells = True
        # the snapshot's `units` table (unit responses) replaces the catalog's `units` view
        # (home stations), which the dashboard reads through the library instead
        con.execute("drop view if exists units")
        con.execute(
            f"""
            create table units as
            select r.agency, r.incident_id, r.unit_id, r.unit_type, r.station_id,
              coalesce(r.call_category, 'other') as call_category, r.call_type, r.priority,
              {_columns(intervals("unit", stored=True), "r", ["cleared_at"])},
              cast(r.call_received_local_at as date) as local_date,
              (epoch_us(r.cleared_at) - epoch_us(r.dispatched_at)) / 1e6 as busy_s
            from responses r
            """
        )
        prepare(con)  # the statistics macros (da_fractiles) the dashboard's questions use
        con.execute("create table rejects_t as select * from rejects")
        con.execute("create table log_t as select * from ingest_log")
        return Snapshot(version=version, con=con, layers=layers, has_cells=has_cells)
