"""The derived incidents table: one row per incident folded from the unit rows of the
batches it covers, in ``lake/derived/<version>/`` and published by swapping the
``lake/derived/current`` link (one rename). Mixed into
:class:`~dispatch_analytics.store.store.Store`.

A version folder holds **parts** and a mask::

    incidents-00000.parquet   the incidents of a full build (part 0)
    incidents-00001.parquet   the incidents an ingest touched, recomputed from all their rows
    ...
    masked.parquet            agency, incident_id, _part: for each key listed only the row of
                              part ``_part`` is current (none: the incident is gone)
    coverage.parquet          the batches folded in

An ingest costs its batch, not the store: it recomputes only the incidents whose keys its
batches (or the batches removed since) touch, writes them as a new part, and hard-links the
untouched parts into the new version folder (nothing old is read or rewritten). Every row of
every part carries its part number (``_part``); the ``_derived_incidents`` view drops the rows
a newer part supersedes by an anti-join on the (small) mask, which DuckDB skips when the mask
is empty. Parts are folded back into one (a full build) when there are more than
:data:`MAX_PARTS` or the mask outgrows :data:`MAX_MASK_SHARE` of the rows
(:meth:`DerivedTable.compact_derived`).
"""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from ..schema.intervals import intervals
from ..sql import sql_str as _sql_str
from .crash import crash_point
from .derived_sql import dedupe_sql as _dedupe_sql
from .derived_sql import incidents_sql as _incidents_sql
from .file_memo import checked
from .spatial_tables import fsync_dir as fsync_path
from .spatial_tables import glob_escape

__all__ = ["SCHEMA_VERSION", "MAX_PARTS", "MAX_MASK_SHARE", "DerivedTable"]

#: The store's schema version: a derived table or catalog of another version is rebuilt.
SCHEMA_VERSION = "11"  # 11: ties of the first-due / first-arriving pick broken
#: Parts a derived table may hold before an ingest folds them back into one (a full build).
MAX_PARTS = 16
#: ... or when the masked keys exceed this share of the rows of part 0.
MAX_MASK_SHARE = 0.25
_PART = "incidents-{:05d}.parquet"
_MASK = "masked.parquet"
_MASK_SCHEMA = {"agency": pl.String, "incident_id": pl.String, "_part": pl.Int32}


def _holds(want: set[str | None], path: Path) -> bool:
    """Whether the Parquet file at ``path`` has (at least) the columns ``want``."""
    try:
        return want <= set(pl.scan_parquet(path, glob=False).collect_schema())
    except (OSError, pl.exceptions.PolarsError):
        return False


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("incidents-*.parquet"))


class DerivedTable:
    """Building, refreshing and cleaning the derived incidents table (the paths, ``read_sql``,
    ``connect``, ``ingest_log`` and the batch readers come from
    :class:`~dispatch_analytics.store.store.Store`)."""

    derived_dir: Path
    derived_current: Path
    tmp_dir: Path

    if TYPE_CHECKING:  # provided by Store and StoreReading

        def read_sql(self, kind: str) -> str: ...

        def connect(
            self, read_only: bool = True, spatial: bool = False
        ) -> duckdb.DuckDBPyConnection: ...

        def connect_attached(self) -> duckdb.DuckDBPyConnection: ...

        def ingest_log(self) -> pl.DataFrame: ...

        def live_batches(self) -> set[str]: ...

        def changed_keys(self, added: set[str], removed: set[str]) -> pl.DataFrame: ...

        def scan_rows(
            self,
            kind: str,
            batches: set[str] | None = None,
            schema=None,
            columns=None,
            layout=None,
        ) -> pl.LazyFrame | None: ...

    # ------------------------------------------------------------------ the view
    def derived_view_sql(self) -> str:
        """The ``_derived_incidents`` view: every part's rows but those a newer part
        supersedes (the mask), without the ``_part`` column."""
        cur = glob_escape(self.derived_current)
        return (
            "create or replace view _derived_incidents as select d.* exclude (_part) from "
            f"read_parquet({_sql_str(cur + '/incidents-*.parquet')}) d anti join "
            f"read_parquet({_sql_str(cur + '/' + _MASK)}) m on m.agency = d.agency "
            "and m.incident_id = d.incident_id and m._part <> d._part"
        )

    def derived_parts(self) -> list[Path]:
        """The part files of the current derived table (``incidents-NNNNN.parquet``)."""
        return _parts(self.derived_current)

    def _derived_version_ok(self) -> bool:
        try:
            target = os.readlink(self.derived_current)
        except OSError:
            return False
        parts = self.derived_parts()
        if not (
            Path(target).name.startswith(f"v{SCHEMA_VERSION}-")
            and parts
            and (self.derived_current / _MASK).exists()
        ):
            return False
        # a stored interval added to the registry since: the table lacks its column
        want = {iv.column for iv in intervals("incident", stored=True)} | {"_part"}
        return all(
            checked(p, ("derived part", frozenset(want)), partial(_holds, want)) for p in parts
        )

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

    # ------------------------------------------------------------------ publishing
    def _publish_derived(self, fill, stages: bool) -> None:
        """Make a new version folder, let ``fill(folder)`` write its files, then swap the
        ``current`` link to it (one rename); ``stages`` reaches the crash-hook stages
        ``derived.*``."""
        from datetime import UTC, datetime

        def stage(name: str) -> None:
            if stages:
                crash_point(name)

        stage("derived.begin")
        self.derived_dir.mkdir(parents=True, exist_ok=True)
        name = f"v{SCHEMA_VERSION}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}"
        new = self.derived_dir / name
        new.mkdir()
        fill(new)
        for f in sorted(new.iterdir()):
            fsync_path(f)  # on disk before the link points at them (a power cut, not only kill)
        fsync_path(new)
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

    def _write_derived(
        self, con, incidents_sql: str, coverage_sql: str, stages: bool = False
    ) -> None:
        """A full build: one part (``incidents-00000.parquet``) from ``incidents_sql``, an
        empty mask, the coverage from ``coverage_sql``."""

        def fill(new: Path) -> None:
            con.execute(
                f"copy (select *, 0::integer as _part from ({incidents_sql})) to "
                f"{_sql_str(str(new / _PART.format(0)))} (format parquet, compression zstd)"
            )
            pl.DataFrame(schema=_MASK_SCHEMA).write_parquet(new / _MASK)
            con.execute(
                f"copy ({coverage_sql}) to {_sql_str(str(new / 'coverage.parquet'))} "
                "(format parquet)"
            )

        self._publish_derived(fill, stages)

    def _write_derived_part(
        self, con, keys: pl.DataFrame, coverage: set[str], stages: bool = True
    ) -> None:
        """An incremental refresh: the untouched parts hard-linked, the incidents of
        ``keys`` (agency, incident_id) recomputed from all their unit rows as a new part, the
        mask told that the new part holds those keys' current rows."""
        old_parts = self.derived_parts()
        old_mask = pl.read_parquet(self.derived_current / _MASK).cast(_MASK_SCHEMA)  # type: ignore[arg-type]
        part = int(old_parts[-1].name[len("incidents-") : -len(".parquet")]) + 1

        in_batches = self._batches_holding_sql(keys)

        def fill(new: Path) -> None:
            for f in old_parts:
                _link_or_copy(f, new / f.name)
            touched = keys.select(
                pl.col("agency").cast(pl.String),
                pl.col("incident_id").cast(pl.String),
                pl.lit(part, pl.Int32).alias("_part"),
            )
            mask = pl.concat(
                [old_mask.join(touched, on=["agency", "incident_id"], how="anti"), touched]
            )
            mask.write_parquet(new / _MASK)
            src = (
                "(select * from responses_all r semi join (select agency, incident_id from "
                f"read_parquet({_sql_str(str(new / _MASK))}) where _part = {part}) k "
                f"on k.agency = r.agency and k.incident_id = r.incident_id where {in_batches})"
            )
            con.execute(
                f"copy (select *, {part}::integer as _part from "
                f"({_incidents_sql(f'({_dedupe_sql(src)})')})) to "
                f"{_sql_str(str(new / _PART.format(part)))} (format parquet, compression zstd)"
            )
            pl.DataFrame(
                {"batch_id": sorted(coverage)}, schema={"batch_id": pl.String}
            ).write_parquet(new / "coverage.parquet")

        self._publish_derived(fill, stages)

    def _batches_holding_sql(self, keys: pl.DataFrame) -> str:
        """A filter on ``batch_id`` to the batches holding a unit row of one of ``keys``:
        found by scanning only the stored ``incident_id`` and ``batch_id`` columns, it lets
        DuckDB skip every other file by its statistics (at 1M incidents 0.05 s for this scan
        and 0.03 s for the filtered one, against 0.8 s for the semi-join over every row)."""
        rows = self.scan_rows("responses", None, columns=["batch_id", "incident_id"])
        if rows is None or not keys.height:
            return "false"
        ids = keys["incident_id"].cast(pl.String).implode()
        hit = rows.filter(pl.col("incident_id").is_in(ids)).select("batch_id").unique()
        batches = sorted(b for b in hit.collect()["batch_id"].to_list() if b is not None)
        if not batches:
            return "false"
        return "r.batch_id in (" + ", ".join(_sql_str(b) for b in batches) + ")"

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

    # ------------------------------------------------------------------ refreshing
    def derived_coverage(self) -> set[str] | None:
        """The batches the current derived table covers (None: unreadable)."""
        try:
            return set(pl.read_parquet(self.derived_current / "coverage.parquet")["batch_id"])
        except (OSError, pl.exceptions.PolarsError):
            return None

    def derived_stale(self) -> bool:
        """True when the derived incidents table does not cover exactly the batches in the
        ingest log (a refresh was skipped or killed; the ``incidents`` view is right
        anyway, only slower)."""
        covered = self.derived_coverage()
        return covered is None or covered != set(self.ingest_log()["batch_id"].to_list())

    def derived_rows(self, keys: pl.DataFrame, columns: list[str]) -> pl.DataFrame | None:
        """``columns`` of the incidents ``keys`` (agency, incident_id) as the ``incidents``
        view has them, read from the parts holding them (the mask says which; part 0 for a
        key not in it) without evaluating the view; None when the table does not cover the
        ingest log (then only the view is right)."""
        if self.derived_stale():
            return None
        on = ["agency", "incident_id"]
        keys = keys.select(pl.col(c).cast(pl.String) for c in on).unique()
        mask = pl.read_parquet(self.derived_current / _MASK).cast(_MASK_SCHEMA)  # type: ignore[arg-type]
        where = keys.join(mask, on=on, how="left").with_columns(pl.col("_part").fill_null(0))
        frames = []
        for (part,), grp in where.group_by("_part"):
            path = self.derived_current / _PART.format(int(part))
            if not path.is_file():
                continue
            ids = grp["incident_id"].implode()
            rows = (
                pl.scan_parquet(path, glob=False)
                .filter(pl.col("incident_id").is_in(ids))
                .select(list(dict.fromkeys([*on, *columns])))
                .collect()
            )
            frames.append(rows.join(grp.select(on), on=on, how="semi"))
        if not frames:
            return None
        return pl.concat(frames).select(columns)

    def _needs_full_build(self, new_keys: int) -> bool:
        """True when the parts are to be folded back into one: too many parts, or a mask
        that would outgrow :data:`MAX_MASK_SHARE` of part 0's rows with ``new_keys`` more
        (then a full build is about as cheap as a part)."""
        parts = self.derived_parts()
        if len(parts) >= MAX_PARTS:
            return True
        try:
            masked = pl.scan_parquet(self.derived_current / _MASK, glob=False).select(pl.len())
            base = pl.scan_parquet(parts[0], glob=False).select(pl.len())
            n_mask, n_base = masked.collect().item(), base.collect().item()
        except (OSError, pl.exceptions.PolarsError):
            return True
        return n_mask + new_keys > max(1000, MAX_MASK_SHARE * n_base)

    def refresh_derived(
        self, full: bool = False, con: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        """Fold every ingested batch into the derived incidents table (call under the writer
        lock). Incidents of batches ingested since are still computed live by the
        ``incidents`` view, so the view is always current; this only makes it fast.

        Only the incidents the new batches (and the batches removed since) touch are
        recomputed, as a new part; a full build runs when ``full``, when there is no table
        of this version yet, or when the parts are due to be folded back into one.
        ``con`` (``connect_attached()``) saves opening the catalog again.
        """
        coverage = self.derived_coverage()
        if full or coverage is None or not self._derived_version_ok():
            self._full_build()
            return
        logged = set(self.ingest_log()["batch_id"].to_list())
        added = logged - coverage
        removed = coverage - self.live_batches()
        if not added and not removed:
            return
        keys = self.changed_keys(added, removed)
        if self._needs_full_build(keys.height):
            self._full_build()
            return
        own = con is None
        con = self.connect_attached() if con is None else con
        try:
            con.execute("set enable_progress_bar = false")
            self._write_derived_part(con, keys, (coverage - removed) | added)
        finally:
            if own:
                con.close()

    def compact_derived(self) -> None:
        """Fold the derived table's parts back into one (a full build; under the writer
        lock). ``dispatch compact`` calls it; an ingest does it by itself when the parts
        are more than :data:`MAX_PARTS`."""
        self._full_build()

    def _full_build(self) -> None:
        con = self.connect_attached()
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


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link an untouched part into the new version folder (a copy where the file
    system has no hard links)."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
