"""The derived incidents table: one row per incident folded from the unit rows of the
batches it covers, in ``lake/derived/<version>/`` and published by swapping the
``lake/derived/current`` link (one rename). Mixed into
:class:`~dispatch_analytics.store.store.Store`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from ..schema.intervals import intervals
from .crash import crash_point
from .derived_sql import dedupe_sql as _dedupe_sql
from .derived_sql import incidents_sql as _incidents_sql
from .spatial_tables import fsync_dir as fsync_path

__all__ = ["SCHEMA_VERSION", "DerivedTable"]

#: The store's schema version: a derived table or catalog of another version is rebuilt.
SCHEMA_VERSION = "9"


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


class DerivedTable:
    """Building, refreshing and cleaning the derived incidents table (the paths, ``read_sql``,
    ``connect`` and ``ingest_log`` come from :class:`~dispatch_analytics.store.store.Store`)."""

    derived_dir: Path
    derived_current: Path
    tmp_dir: Path

    if TYPE_CHECKING:  # provided by Store and StoreReading

        def read_sql(self, kind: str) -> str: ...

        def connect(
            self, read_only: bool = True, spatial: bool = False
        ) -> duckdb.DuckDBPyConnection: ...

        def ingest_log(self) -> pl.DataFrame: ...

    def _derived_version_ok(self) -> bool:
        try:
            target = os.readlink(self.derived_current)
        except OSError:
            return False
        path = self.derived_current / "incidents.parquet"
        if not (Path(target).name.startswith(f"v{SCHEMA_VERSION}-") and path.exists()):
            return False
        # a stored interval added to the registry since: the table lacks its column
        try:
            have = set(pl.scan_parquet(path, glob=False).collect_schema())
        except (OSError, pl.exceptions.PolarsError):
            return False
        return all(iv.column in have for iv in intervals("incident", stored=True))

    def _ensure_derived(self) -> None:
        """Create an empty derived incidents table (covering no batch) when there is none of
        this schema version: the ``incidents`` view then computes every incident live."""
        if self._derived_version_ok():
            return
        con = duckdb.connect()
        try:
            con.execute("set enable_progress_bar = false")
            con.execute(
                "create view responses_all as select * exclude (compact_id) replace "
                f"(coalesce(agency, profile) as agency) from {self.read_sql('responses')}"
            )
            con.execute(f"create view responses as {_dedupe_sql('responses_all')}")
            con.execute(f"create view incidents_live as {_incidents_sql('responses')}")
            self._write_derived(
                con,
                "select * from incidents_live where false",
                "select ''::varchar as batch_id where false",
            )
        finally:
            con.close()

    def _write_derived(
        self, con, incidents_sql: str, coverage_sql: str, stages: bool = False
    ) -> None:
        """Write a new derived table folder and swap the ``current`` link to it (one
        rename); ``stages`` reaches the crash-hook stages ``derived.*``."""
        from datetime import UTC, datetime

        def stage(name: str) -> None:
            if stages:
                crash_point(name)

        stage("derived.begin")
        self.derived_dir.mkdir(parents=True, exist_ok=True)
        name = f"v{SCHEMA_VERSION}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}"
        new = self.derived_dir / name
        new.mkdir()
        con.execute(
            f"copy ({incidents_sql}) to {_sql_str(str(new / 'incidents.parquet'))} "
            "(format parquet, compression zstd)"
        )
        con.execute(
            f"copy ({coverage_sql}) to {_sql_str(str(new / 'coverage.parquet'))} (format parquet)"
        )
        for f in (new / "incidents.parquet", new / "coverage.parquet", new):
            fsync_path(f)  # on disk before the link points at them (a power cut, not only kill)
        stage("derived.written")
        link = self.derived_dir / f".current-{os.getpid()}"
        link.unlink(missing_ok=True)
        os.symlink(name, link)
        stage("derived.linked")
        previous = None
        try:
            previous = os.readlink(self.derived_current)
        except OSError:
            if self.derived_current.is_dir():  # a copied store (cp -r turns the link into a dir)
                os.rename(self.derived_current, self.derived_dir / f"old-{name}")
        os.replace(link, self.derived_current)  # atomic: readers see the old or the new table
        fsync_path(self.derived_dir)
        stage("derived.swapped")
        keep = {name, previous}
        for d in self.derived_dir.iterdir():
            if d.is_dir() and not d.is_symlink() and d.name not in keep:
                shutil.rmtree(d, ignore_errors=True)
        stage("derived.done")

    def _clean_derived(self) -> None:
        """Delete the derived tables of killed refreshes (under the writer lock): temporary
        ``.current-*`` links, folders newer than ``current`` (never linked) and all but the
        newest folder older than it (kept for readers that opened it)."""
        if not self.derived_dir.is_dir():
            return
        try:
            current = os.readlink(self.derived_current)
        except OSError:
            return
        older = []
        for d in sorted(self.derived_dir.iterdir()):
            if d.name.startswith(".current-") and d.is_symlink():
                d.unlink(missing_ok=True)
            elif d.is_dir() and not d.is_symlink() and d.name != current:
                if d.name > current or not d.name.startswith(f"v{SCHEMA_VERSION}-"):
                    shutil.rmtree(d, ignore_errors=True)
                else:
                    older.append(d)
        for d in older[:-1]:
            shutil.rmtree(d, ignore_errors=True)

    def derived_stale(self) -> bool:
        """True when the derived incidents table does not cover exactly the batches in the
        ingest log (a refresh was skipped or killed; the ``incidents`` view is right
        anyway, only slower)."""
        path = self.derived_current / "coverage.parquet"
        try:
            covered = set(pl.read_parquet(path)["batch_id"].to_list())
        except (OSError, pl.exceptions.PolarsError):
            return True
        return covered != set(self.ingest_log()["batch_id"].to_list())

    def refresh_derived(self) -> None:
        """Fold every ingested batch into the derived incidents table (call under the writer
        lock). Incidents of batches ingested since are still computed live by the
        ``incidents`` view, so the view is always current; this only makes it fast."""
        con = self.connect(read_only=False)
        try:
            con.execute("set enable_progress_bar = false")
            # DuckDB may spill to the lake's scratch folder (a 1 GB cap is not enough: the
            # grouped arg_min of 10M unit rows does not spill)
            spill = self.tmp_dir / "duckdb_spill"
            spill.mkdir(parents=True, exist_ok=True)
            con.execute(f"set temp_directory = {_sql_str(str(spill))}")
            con.execute("set preserve_insertion_order = false")
            self._write_derived(
                con,
                "select * from incidents",
                "select distinct batch_id from responses_all union select batch_id from ingest_log",
                stages=True,
            )
        finally:
            con.close()
            shutil.rmtree(self.tmp_dir / "duckdb_spill", ignore_errors=True)
