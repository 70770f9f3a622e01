"""The spatial tables' files in the lake and their catalog views (no geometry logic here).

Layout under the store root::

    spatial/zones/<layer>.parquet          GeoParquet, EPSG:4326: layer, zone_id, name,
                                           density_class, area_km2, geometry, generation
    spatial/zones/_empty.parquet           zero-row placeholder (so globs always match)
    spatial/stations.parquet               station points
    spatial/incident_zones/<layer>.<generation>.parquet
                                           incident_id, layer, zone_id (null = in no zone),
                                           generation
    spatial/incident_zones/_empty.parquet  zero-row placeholder
    spatial/incident_cells.parquet         incident_id, resolution, h3_cell
    spatial/units.parquet                  unit_id, station_id (home station), unit_type,
                                           staffing, source (``dispatch units``)
    spatial/assigned.parquet               batch_id: the batches the last complete zone / H3
                                           assignment covered (a stale one is redone)

Every file is written to a temporary name in its folder and renamed over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one. A zone
layer and its assignment are published together: the assignment file is written first under
the layer's new ``generation`` (invisible: the ``incident_zones`` view shows only rows of the
generation in the layer's file), then the layer file's one rename makes both visible. Writers
serialise on ``spatial/.write.lock`` (separate from the ingest lock). The geometry work
(reading vector files, point-in-polygon, H3) is in :mod:`dispatch_analytics.spatial`.
"""

from __future__ import annotations

import fcntl
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..sql import sql_str as _sql_str
from .crash import crash_point
from .file_memo import checked, remember
from .permissions import private_files

__all__ = [
    "EMPTY_FILE",
    "glob_escape",
    "spatial_dir",
    "zones_dir",
    "incident_zones_dir",
    "incident_zones_path",
    "parse_incident_zones_name",
    "assigned_path",
    "clean_dead_tmp",
    "clean_stale_assignments",
    "layer_generations",
    "stations_path",
    "cells_path",
    "schema_path",
    "units_path",
    "SPATIAL_VIEWS",
    "SPATIAL_COLUMNS",
    "arrow_schemas",
    "fsync_dir",
    "atomic_write",
    "tmp_name",
    "spatial_lock",
    "init_spatial",
    "spatial_view_sql",
]


EMPTY_FILE = "_empty.parquet"


# ============================================================================ paths, files
def glob_escape(path: str | os.PathLike) -> str:
    """``path`` with DuckDB's glob characters (``[``, ``*``, ``?``) matched literally
    (``[[]``, ``[*]``, ``[?]``), so a data directory named ``runs[2024]*`` still reads."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in str(path))


def spatial_dir(root: str | os.PathLike) -> Path:
    return Path(root) / "spatial"


def zones_dir(root) -> Path:
    return spatial_dir(root) / "zones"


def incident_zones_dir(root) -> Path:
    return spatial_dir(root) / "incident_zones"


def incident_zones_path(root, layer: str, generation: int | None) -> Path:
    """The assignment file of ``layer`` at ``generation`` (None: a layer written before
    layers had generations, ``<layer>.parquet``)."""
    name = layer if generation is None else f"{layer}.{int(generation)}"
    return incident_zones_dir(root) / f"{name}.parquet"


_IZ_NAME = re.compile(r"([a-z][a-z0-9_]*)(?:\.(\d+))?\.parquet")


def parse_incident_zones_name(name: str) -> tuple[str, int | None] | None:
    """``(layer, generation)`` of an assignment file name; None for other files."""
    m = _IZ_NAME.fullmatch(name)
    if m is None:
        return None
    return m.group(1), (int(m.group(2)) if m.group(2) else None)


def assigned_path(root) -> Path:
    """``spatial/assigned.parquet``: the batch ids the last complete assignment covered."""
    return spatial_dir(root) / "assigned.parquet"


def stations_path(root) -> Path:
    return spatial_dir(root) / "stations.parquet"


def cells_path(root) -> Path:
    return spatial_dir(root) / "incident_cells.parquet"


def schema_path(root, table: str) -> Path:
    """The zero-row file holding the current columns of ``table`` (read beside the data
    files, ``union_by_name``, so files written by an older version still read: a column
    they lack is NULL)."""
    return spatial_dir(root) / "_schema" / f"{table}.parquet"


def units_path(root) -> Path:
    return spatial_dir(root) / "units.parquet"


#: The views :func:`spatial_view_sql` creates (a catalog lacking one is rebuilt).
SPATIAL_VIEWS: tuple[str, ...] = ("zones", "stations", "incident_zones", "incident_cells", "units")


#: The placeholder files' columns, as (name, type) with the type named as in pyarrow (and in
#: :data:`_POLARS_TYPES`): a plain spec, so opening a store can check the placeholders with
#: polars (imported by the store anyway) and import pyarrow only when one must be written.
SPATIAL_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "zones": (
        ("layer", "string"),
        ("agency", "string"),
        ("zone_id", "string"),
        ("name", "string"),
        ("density_class", "string"),
        ("area_km2", "float64"),
        ("geometry", "binary"),
        ("generation", "int64"),
    ),
    "stations": (
        ("agency", "string"),
        ("station_id", "string"),
        ("name", "string"),
        ("latitude", "float64"),
        ("longitude", "float64"),
        ("geometry", "binary"),
    ),
    "incident_zones": (
        ("agency", "string"),
        ("incident_id", "string"),
        ("layer", "string"),
        ("zone_id", "string"),
        ("generation", "int64"),
    ),
    "incident_cells": (
        ("agency", "string"),
        ("incident_id", "string"),
        ("resolution", "int8"),
        ("h3_cell", "string"),
    ),
    "units": (
        ("agency", "string"),
        ("unit_id", "string"),
        ("station_id", "string"),
        ("unit_type", "string"),
        ("staffing", "int32"),
        ("source", "string"),
    ),
}

#: What polars reads each pyarrow type of :data:`SPATIAL_COLUMNS` back as.
_POLARS_TYPES = {
    "string": "String",
    "float64": "Float64",
    "binary": "Binary",
    "int64": "Int64",
    "int32": "Int32",
    "int8": "Int8",
}


def arrow_schemas() -> dict[str, Any]:
    """The :data:`SPATIAL_COLUMNS` as pyarrow schemas (imports pyarrow)."""
    import pyarrow as pa

    return {
        table: pa.schema([(name, getattr(pa, kind)()) for name, kind in cols])
        for table, cols in SPATIAL_COLUMNS.items()
    }


def _has_columns(path: Path, table: str) -> bool:
    """Whether the Parquet file at ``path`` holds exactly ``table``'s columns (names, order,
    types), read with polars from the file's footer (no pyarrow import)."""
    import polars as pl

    try:
        got = pl.scan_parquet(path, glob=False).collect_schema()
    except (OSError, pl.exceptions.PolarsError):  # unreadable or truncated: rewrite it
        return False
    want = [(name, getattr(pl, _POLARS_TYPES[kind])()) for name, kind in SPATIAL_COLUMNS[table]]
    return list(got.items()) == want


def fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(dest: Path) -> Path:
    """A temporary name beside ``dest``: ``.<name>.<pid>-<random>.tmp`` (no ``*.parquet``
    glob sees it; :func:`clean_dead_tmp` deletes it once its process is gone)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(dest: Path, write: Callable[[Path], Any], stage: str | None = None) -> None:
    """Write ``dest`` through a temporary file in its folder, then rename it into place.

    The temporary name ends in ``.tmp`` so no ``*.parquet`` glob ever sees it. ``stage``
    names the crash-hook stages ``<stage>.begin``, ``<stage>.written`` (before the rename)
    and ``<stage>.renamed`` (:mod:`.crash`).
    """
    if stage:
        crash_point(f"{stage}.begin")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(dest)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if stage:
            crash_point(f"{stage}.written")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)
    if stage:
        crash_point(f"{stage}.renamed")


_TMP_PID = re.compile(r"^\..*\.(\d+)(?:-[0-9a-f]+)?\.tmp$|^\.catalog-(\d+)\.duckdb(?:\.wal)?$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def clean_dead_tmp(folder: Path, recursive: bool = True) -> list[Path]:
    """Delete the temporary files (``.*.<pid>[-<random>].tmp``, ``.catalog-<pid>.duckdb``)
    in ``folder`` (and its subfolders when ``recursive``) whose writing process is gone
    (killed mid-write); returns them.

    Files of live processes are kept, so this is safe without a lock.
    """
    gone: list[Path] = []
    if not folder.is_dir():
        return gone
    for dirpath, dirs, names in os.walk(folder):
        if not recursive:
            dirs.clear()
        for name in names:
            m = _TMP_PID.match(name)
            if m and not _alive(int(m.group(1) or m.group(2))):
                p = Path(dirpath) / name
                p.unlink(missing_ok=True)
                gone.append(p)
    return gone


def layer_generations(root) -> dict[str, int | None]:
    """``{layer: generation}`` of the zone layers loaded (None: a layer file written before
    layers had generations)."""
    import pyarrow.parquet as pq

    out: dict[str, int | None] = {}
    d = zones_dir(root)
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.parquet")):
        parsed = parse_incident_zones_name(p.name)
        if parsed is None or parsed[1] is not None:  # not a layer file (e.g. _empty)
            continue
        schema = pq.read_schema(p)
        gen = None
        if "generation" in schema.names:
            # ParquetFile, not read_table: read_table imports pyarrow.dataset, and with it
            # pandas (2 s on the ingest path)
            col = pq.ParquetFile(p).read(columns=["generation"]).column("generation")
            gen = next((int(v) for v in col.to_pylist() if v is not None), None)
        out[parsed[0]] = gen
    return out


def clean_stale_assignments(root) -> list[Path]:
    """Delete the assignment files no view shows (of a layer not loaded, or of another
    generation than the layer's file); call under :func:`spatial_lock`. Returns them."""
    gens = layer_generations(root)
    gone = []
    d = incident_zones_dir(root)
    for p in sorted(d.glob("*.parquet")) if d.is_dir() else []:
        parsed = parse_incident_zones_name(p.name)
        if parsed is None:
            continue
        layer, gen = parsed
        if layer not in gens or gens[layer] != gen:
            p.unlink(missing_ok=True)
            gone.append(p)
    if gone:
        fsync_dir(d)
    return gone


@contextmanager
def spatial_lock(root) -> Iterator[None]:
    """Serialise writers of ``spatial/`` (blocking; the operations are short).

    On entry the debris of a killed writer is deleted: its temporary files and assignment
    files no view shows (:func:`clean_dead_tmp`, :func:`clean_stale_assignments`)."""
    d = spatial_dir(root)
    try:
        with private_files():
            d.mkdir(parents=True, exist_ok=True)
            fh = open(d / ".write.lock", "a+")
    except OSError as exc:
        raise StoreError(f"cannot write to {d}: {exc}") from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with private_files():
            clean_dead_tmp(d)
            clean_stale_assignments(root)
            yield
    finally:
        fh.close()


def init_spatial(root: str | os.PathLike) -> Path:
    """Create ``spatial/`` with zero-row placeholder files, so DuckDB globs always match.

    Creates ``spatial/stations.parquet``, ``spatial/incident_cells.parquet`` and
    ``spatial/units.parquet`` empty when missing (existing ones are never touched), and keeps
    the zero-row placeholders ``spatial/zones/_empty.parquet``,
    ``spatial/incident_zones/_empty.parquet`` and ``spatial/_schema/*.parquet`` at the current
    columns (rewritten when the schema changed), so files written by an older version still
    read; geometry columns are plain WKB binary columns named ``geometry``.

    Parameters
    ----------
    root : path
        The store root (``Store.root``).

    Returns
    -------
    Path
        The ``spatial`` folder.

    Raises
    ------
    StoreError
        The folders or files cannot be created.
    """
    # data files created empty when missing (existing ones are never touched)
    missing = {
        stations_path(root): "stations",
        cells_path(root): "incident_cells",
        units_path(root): "units",
    }
    # zero-row files that must hold the current schema (rewritten when it changed)
    current = {
        zones_dir(root) / EMPTY_FILE: "zones",
        incident_zones_dir(root) / EMPTY_FILE: "incident_zones",
        **{schema_path(root, t): t for t in ("stations", "incident_cells", "units")},
    }
    todo = [(p, t) for p, t in missing.items() if not p.exists()]
    todo += [
        (p, t)
        for p, t in current.items()
        if not checked(p, ("spatial columns", t), partial(_has_columns, table=t))
    ]
    if not todo:  # the usual case: nothing to write, and pyarrow is not imported
        return spatial_dir(root)
    import pyarrow.parquet as pq

    schemas = arrow_schemas()
    try:
        for path, table in todo:
            atomic_write(path, partial(pq.write_table, schemas[table].empty_table()))
            if path in current:
                remember(path, ("spatial columns", table))
    except OSError as exc:
        raise StoreError(f"cannot create {spatial_dir(root)}: {exc}") from exc
    return spatial_dir(root)


# ============================================================================ DuckDB views
def spatial_view_sql(root: str | os.PathLike) -> list[str]:
    """``create or replace view`` statements for ``zones``, ``stations``, ``incident_zones``,
    ``incident_cells`` and ``units``.

    They need only DuckDB core (not the spatial extension) and the placeholder files of
    :func:`init_spatial`. ``zones.geometry`` is WKB (``BLOB``): DuckDB 1.5 decodes the
    GeoParquet column as a core ``GEOMETRY`` (with or without the extension) and the view
    turns it back into WKB with the core ``ST_AsWKB``. (A session that sets
    ``enable_geoparquet_conversion = false`` gets raw BLOBs and cannot read ``zones`` rows.)

    Parameters
    ----------
    root : path
        The store root (paths in the views are absolute).

    Returns
    -------
    list of str
    """
    root = Path(root).resolve()
    zones = _sql_str(glob_escape(zones_dir(root)) + "/*.parquet")
    izones = _sql_str(glob_escape(incident_zones_dir(root)) + "/*.parquet")

    def both(path: Path, table: str) -> str:
        schema = glob_escape(schema_path(root, table))
        return f"[{_sql_str(glob_escape(path))}, {_sql_str(schema)}]"

    stations = both(stations_path(root), "stations")
    cells = both(cells_path(root), "incident_cells")
    units = both(units_path(root), "units")
    return [
        # geometry::GEOMETRY is a no-op on GeoParquet columns (decoded as GEOMETRY) and is
        # never evaluated on the zero-row placeholder, whose column is plain WKB
        "create or replace view zones as select layer, agency, zone_id, name, density_class, "
        "area_km2, ST_AsWKB(geometry::GEOMETRY) as geometry "
        f"from read_parquet({zones}, union_by_name = true)",
        "create or replace view stations as select agency, station_id, name, latitude, "
        f"longitude from read_parquet({stations}, union_by_name = true)",
        # only the assignment of the generation in the layer's file: a layer and its
        # assignment are published by the layer file's one rename (an assignment written for
        # a generation not (or no longer) loaded is invisible)
        "create or replace view incident_zones as select i.agency, i.incident_id, i.layer, "
        f"i.zone_id from read_parquet({izones}, union_by_name = true) i semi join "
        f"(select distinct layer, generation from read_parquet({zones}, union_by_name = true)) "
        "g on g.layer = i.layer and g.generation is not distinct from i.generation",
        "create or replace view incident_cells as select agency, incident_id, "
        f"resolution::TINYINT as resolution, h3_cell from read_parquet({cells}, "
        "union_by_name = true)",
        "create or replace view units as select agency, unit_id, station_id, unit_type, "
        f"staffing, source from read_parquet({units}, union_by_name = true)",
    ]
