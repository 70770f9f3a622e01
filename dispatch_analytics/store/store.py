"""The store: an append-only Parquet lake plus a DuckDB catalog of views over it.

Layout of a data directory::

    <data dir>/
      catalog.duckdb            views only (open it read-only from any SQL client)
      .write.lock               held by the one process that is ingesting
      lake/batches/<batch_id>/  one folder per ingested file, renamed into place when complete
          responses-00000.parquet   accepted unit rows (canonical columns)
          rejects-00000.parquet     rejected source rows, with reason
          ingest_log.parquet        one row describing the batch
      lake/batches/<run>/       a compaction run (``<stamp>-compact-<hex>``, ``dispatch
                                compact``): many batches' rows in a few files; its
                                supersedes.parquet hides the folders / files it replaced
                                (:mod:`.compacted`)
      lake/_tmp/                batches being written (invisible to every view)
      lake/derived/current      link to the derived incidents table (swapped by one rename):
                                parts incidents-NNNNN.parquet, masked.parquet, coverage.parquet

A batch folder appears by one ``rename``, so a reader sees all of a batch or none of it;
a killed ingest leaves only ``_tmp`` debris, removed by the next writer (``docs/store.md``,
"Crash safety").
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import duckdb
import polars as pl

from ..errors import QueryError, StoreError
from ..schema.tables import LOG_SCHEMA, REJECT_SCHEMA, RESPONSE_SCHEMA
from ..sql import sql_str as _sql_str
from .catalog_sql import catalog_body
from .compacted import COMPACT_COLUMN, MANIFEST_SCHEMA, SUPERSEDE_SCHEMA
from .derived import SCHEMA_VERSION, DerivedTable
from .file_memo import checked, remember
from .permissions import private_files
from .reading import REMOVE_SCHEMA, StoreReading
from .spatial_tables import (
    SPATIAL_VIEWS,
    clean_dead_tmp,
    glob_escape,
    init_spatial,
    tmp_name,
)

__all__ = [
    "SCHEMA_VERSION",
    "DEFAULT_DATA_DIR",
    "Store",
    "resolve_data_dir",
    "glob_escape",
    "REMOVE_SCHEMA",
]


DEFAULT_DATA_DIR = "dispatch_data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$DISPATCH_DATA_DIR``, else ``./dispatch_data``."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("DISPATCH_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser().resolve()


def _has_schema(path: Path, schema: dict) -> bool:
    """Whether the Parquet file at ``path`` has exactly the columns of ``schema``."""
    try:
        return pl.scan_parquet(path, glob=False).collect_schema() == pl.Schema(schema)
    except (OSError, pl.exceptions.PolarsError):  # missing, unreadable or truncated
        return False


def _digest(statements: list[str]) -> str:
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]


class Store(DerivedTable, StoreReading):
    """A data directory holding the lake and the catalog.

    Parameters
    ----------
    data_dir : path, optional
        See :func:`resolve_data_dir`.
    create : bool
        Create the directory layout (and catalog) if missing; otherwise raise
        :class:`StoreError` when the directory holds no store.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, create: bool = True):
        self.root = resolve_data_dir(data_dir)
        self.lake = self.root / "lake"
        self.batches_dir = self.lake / "batches"
        self.tmp_dir = self.lake / "_tmp"
        self.catalog_path = self.root / "catalog.duckdb"
        self.lock_path = self.root / ".write.lock"
        self.derived_dir = self.lake / "derived"
        self.derived_current = self.derived_dir / "current"
        if "?" in str(self.root):
            # DuckDB reads `?` in a database file's path as the start of URL parameters
            raise StoreError(
                f"the data directory {self.root} has a `?` in its path, which DuckDB cannot "
                "open as a database file; use a `--data-dir` without `?`"
            )
        if not create and not self.batches_dir.exists():
            self._open(create)  # raises: no store here
        with private_files(), self._setup_lock():
            self._open(create)

    @contextmanager
    def _setup_lock(self) -> Iterator[None]:
        """Serialise store set-up (layout, placeholders, derived table, catalog) between
        processes: two first ingests into a fresh data dir never race. Short, blocking, and
        separate from the writer lock, so opening a store never waits for an ingest."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / ".setup.lock", "a+")
        except OSError:  # a read-only store: nothing to set up (or a clear error below)
            yield
            return
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            fh.close()

    def _open(self, create: bool) -> None:
        """Create what is missing (layout, placeholders, derived table, catalog)."""
        if not self.batches_dir.exists():
            if not create:
                raise StoreError(
                    f"no store in {self.root}; ingest something first "
                    "(`dispatch ingest FILE --profile NAME`) or pass `--data-dir`"
                )
            self._init_layout()
        init_spatial(self.root)  # spatial/ placeholders: the spatial views' globs must match
        self._ensure_schema_files()
        self._ensure_derived()
        body = self._catalog_body()  # generated once per open (a few ms)
        if not self._catalog_current(body):
            self._write_catalog(body)

    # ------------------------------------------------------------------ layout
    def _init_layout(self) -> None:
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            self.batches_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {self.root}: {exc}") from exc
        init = self.batches_dir / "_init"
        if not init.exists():
            stage = self.tmp_dir / f"_init-{os.getpid()}"
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            pl.DataFrame(schema=RESPONSE_SCHEMA).write_parquet(stage / "responses-00000.parquet")
            pl.DataFrame(schema=REJECT_SCHEMA).write_parquet(stage / "rejects-00000.parquet")
            pl.DataFrame(schema=LOG_SCHEMA).write_parquet(stage / "ingest_log.parquet")
            os.rename(stage, init)

    _PATTERNS = {
        "responses": "responses-*.parquet",
        "rejects": "rejects-*.parquet",
        "ingest_log": "ingest_log.parquet",
        "removes": "removes.parquet",
        "supersedes": "supersedes.parquet",
        "manifest": "manifest.parquet",
    }

    def glob(self, kind: str) -> str:
        """The DuckDB glob of one table kind (responses, rejects, ingest_log, removes); the
        data directory's own path is escaped (:func:`glob_escape`)."""
        return glob_escape(self.batches_dir) + "/*/" + self._PATTERNS[kind]

    def schema_file(self, kind: str) -> Path:
        """A zero-row file with the current columns of one table kind, read beside the
        batches (``union_by_name``) so batches written by an older version still read."""
        return self.lake / "_schema" / f"{kind}.parquet"

    def read_sql(self, kind: str, filename: bool = False) -> str:
        """``read_parquet(...)`` of one table kind: every batch plus its schema file
        (``filename``: with the ``filename`` column)."""
        schema = glob_escape(self.schema_file(kind))
        files = f"[{_sql_str(self.glob(kind))}, {_sql_str(schema)}]"
        extra = ", filename = true" if filename else ""
        return f"read_parquet({files}, union_by_name = true{extra})"

    def _ensure_schema_files(self) -> None:
        compacted = {COMPACT_COLUMN: pl.String()}  # null in batch folders (see .compacted)
        for kind, schema in (
            ("responses", {**RESPONSE_SCHEMA, **compacted}),
            ("rejects", {**REJECT_SCHEMA, **compacted}),
            ("ingest_log", {**LOG_SCHEMA, **compacted}),
            ("removes", REMOVE_SCHEMA),
            ("supersedes", SUPERSEDE_SCHEMA),
            ("manifest", MANIFEST_SCHEMA),
        ):
            # the _init batch holds a zero-row file of every kind, so every glob matches
            init = self.batches_dir / "_init" / self._PATTERNS[kind].replace("*", "00000")
            if init.parent.is_dir() and not init.exists():
                tmp = tmp_name(init)
                pl.DataFrame(schema=schema).write_parquet(tmp)
                os.replace(tmp, init)
            path = self.schema_file(kind)
            what = ("schema file", kind, SCHEMA_VERSION)
            if checked(path, what, partial(_has_schema, schema=schema)):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_name(path)
            pl.DataFrame(schema=schema).write_parquet(tmp)
            os.replace(tmp, path)
            remember(path, what)

    # ------------------------------------------------------------------ views
    def view_sql(self) -> list[str]:
        """``CREATE VIEW`` statements of the catalog, in dependency order.

        ``_catalog_meta`` records a digest of the others: a catalog written by another version
        of the package (other views, intervals or macros) is rebuilt when the store opens.
        """
        return self._view_sql(self._catalog_body())

    def _view_sql(self, body: list[str]) -> list[str]:
        return [
            f"create or replace view _catalog_meta as select {_sql_str(SCHEMA_VERSION)} as "
            f"schema_version, {_sql_str(str(self.root))} as data_dir, "
            f"{_sql_str(_digest(body))} as sql_digest",
            *body,
        ]

    def _catalog_body(self) -> list[str]:
        return catalog_body(self)

    def _expected_meta(self, body: list[str]) -> tuple[str, str, str]:
        """The ``_catalog_meta`` row of a catalog holding the views ``body``."""
        return (SCHEMA_VERSION, str(self.root), _digest(body))

    def _catalog_current(self, body: list[str]) -> bool:
        """Whether ``catalog.duckdb`` holds the views ``body`` for this directory (checked
        once per version of the file in a process: :mod:`.file_memo`)."""
        meta = self._expected_meta(body)
        return checked(self.catalog_path, ("catalog", meta), partial(self._catalog_ok, meta=meta))

    def _catalog_ok(self, path: Path, meta: tuple[str, str, str]) -> bool:
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            return False
        try:
            row = con.execute(
                "select schema_version, data_dir, sql_digest from _catalog_meta"
            ).fetchone()
            views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
        except duckdb.Error:
            return False
        finally:
            con.close()
        # a catalog missing a view (e.g. dropped by hand) is rebuilt too
        return row == meta and set(SPATIAL_VIEWS) <= views

    def build_catalog(self) -> Path:
        """(Re)write ``catalog.duckdb`` atomically: a new file renamed over the old one.

        Readers that hold the old catalog open keep reading it; new readers get the new one.
        """
        return self._write_catalog(self._catalog_body())

    def _write_catalog(self, body: list[str]) -> Path:
        tmp = self.root / f".catalog-{os.getpid()}.duckdb"
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            for stmt in self._view_sql(body):
                con.execute(stmt)
        finally:
            con.close()
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        os.replace(tmp, self.catalog_path)
        remember(self.catalog_path, ("catalog", self._expected_meta(body)))
        return self.catalog_path

    # ------------------------------------------------------------- connections
    def connect(self, read_only: bool = True, spatial: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the catalog views.

        ``read_only=True`` opens ``catalog.duckdb`` read-only (any number of processes may do
        so while an ingest runs). ``read_only=False`` gives an in-memory database with the
        same views, which the caller may replace or add tables beside (the library's writers
        use the cheaper :meth:`connect_attached`). ``spatial=True`` also loads
        DuckDB's spatial extension offline, when installed, and adds the temporary views
        ``zones_geo`` and ``incidents_geo`` (GEOMETRY columns).
        """
        if read_only:
            try:
                con = duckdb.connect(str(self.catalog_path), read_only=True)
            except duckdb.Error as exc:
                raise StoreError(f"cannot open catalog {self.catalog_path}: {exc}") from exc
        else:
            con = duckdb.connect()
            for stmt in self.view_sql():
                con.execute(stmt)
        con.execute("set TimeZone = 'UTC'")
        if spatial:
            from .extension import load_spatial_extension, spatial_geometry_sql

            if load_spatial_extension(con):
                for stmt in spatial_geometry_sql():
                    con.execute(stmt)
        return con

    def connect_attached(self) -> duckdb.DuckDBPyConnection:
        """A private in-memory DuckDB with ``catalog.duckdb`` attached read-only as its
        default database: the catalog's views, temporary tables beside them, and settings
        (``temp_directory``, ``preserve_insertion_order``) that stay this connection's,
        where a second ``connect()`` to the file in the same process shares DuckDB's one
        instance of it. For the writers (derived refresh, zone / cell assignment): 24 ms,
        where ``connect(read_only=False)`` creates its ~35 views in 85 ms (each ``create
        view`` binds the view stack below it; a 1,700-row store, mean of 20)."""
        con = duckdb.connect()
        try:
            con.execute(f"attach {_sql_str(str(self.catalog_path))} as catalog (read_only)")
            con.execute("use catalog")
            con.execute("set TimeZone = 'UTC'")
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"cannot open catalog {self.catalog_path}: {exc}") from exc
        return con

    def sql(self, query: str, params: dict | list | None = None) -> pl.DataFrame:
        """Run one read-only query over the catalog and return a Polars frame."""
        con = self.connect(read_only=True)
        try:
            rel = con.sql(query, params=params or None)
            if rel is None:
                raise QueryError("the statement returned no result set")
            # the Arrow C stream (PyCapsule), not rel.pl(): .pl() goes through a pyarrow
            # Table and imports pyarrow (~0.3 s) in every command that reads the store
            return pl.DataFrame(rel)
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from exc
        finally:
            con.close()

    # ----------------------------------------------------------------- writing
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the store's writer lock; raise :class:`StoreError` if another writer has it."""
        with private_files():
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.lock_path, "a+")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreError(
                    f"another process is writing to {self.root} (lock {self.lock_path}); "
                    "wait for it to finish"
                ) from exc
            with private_files():
                self._clean_tmp()
                yield
        finally:
            fh.close()

    def _clean_tmp(self) -> None:
        """Remove debris of killed writers (only ever called under the writer lock): staged
        batches and purged folders in ``lake/_tmp``, temporary files of processes that are
        gone (catalog, schema files), derived tables never linked."""
        if self.tmp_dir.exists():
            for child in self.tmp_dir.iterdir():
                if child.name.startswith("_init-"):  # store set-up (under the set-up lock)
                    continue
                shutil.rmtree(child, ignore_errors=True)
        for folder in (self.root, self.lake / "_schema", self.batches_dir / "_init"):
            clean_dead_tmp(folder, recursive=False)
        self._clean_derived()

    def new_batch_dir(self, batch_id: str) -> Path:
        """A fresh staging folder for a batch (under the writer lock)."""
        d = self.tmp_dir / batch_id
        d.mkdir(parents=True, exist_ok=False)
        return d

    def publish(self, staging: Path) -> Path:
        """Make a staged batch visible, atomically (one rename)."""
        for f in staging.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        dest = self.batches_dir / staging.name
        os.rename(staging, dest)
        dfd = os.open(self.batches_dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return dest
