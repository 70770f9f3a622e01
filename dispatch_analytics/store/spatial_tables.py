"""The spatial tables' files in the lake and their catalog views (no geometry logic here).

Layout under the store root::

    spatial/zones/<layer>.parquet          GeoParquet, EPSG:4326: layer, zone_id, name,
                                           density_class, area_km2, geometry
    spatial/zones/_empty.parquet           zero-row placeholder (so globs always match)
    spatial/stations.parquet               station points
    spatial/incident_zones/<layer>.parquet incident_id, layer, zone_id (null = in no zone)
    spatial/incident_zones/_empty.parquet  zero-row placeholder
    spatial/incident_cells.parquet         incident_id, resolution, h3_cell
    spatial/units.parquet                  unit_id, station_id (home station), unit_type,
                                           staffing, source (``dispatch units``)

Every file is written to a temporary name in its folder and renamed over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one. Writers
serialise on ``spatial/.write.lock`` (separate from the ingest lock). The geometry work
(reading vector files, point-in-polygon, H3) is in :mod:`dispatch_analytics.spatial`.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .permissions import private_files

__all__ = [
    "EMPTY_FILE",
    "glob_escape",
    "spatial_dir",
    "zones_dir",
    "incident_zones_dir",
    "stations_path",
    "cells_path",
    "schema_path",
    "units_path",
    "SPATIAL_VIEWS",
    "arrow_schemas",
    "fsync_dir",
    "atomic_write",
    "spatial_lock",
    "init_spatial",
    "spatial_view_sql",
]


EMPTY_FILE = "_empty.parquet"


# ============================================================================ paths, files
def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


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


def arrow_schemas() -> dict[str, Any]:
    import pyarrow as pa

    s = pa.string()
    return {
        "zones": pa.schema(
            [
                ("layer", s),
                ("agency", s),
                ("zone_id", s),
                ("name", s),
                ("density_class", s),
                ("area_km2", pa.float64()),
                ("geometry", pa.binary()),
            ]
        ),
        "stations": pa.schema(
            [
                ("agency", s),
                ("station_id", s),
                ("name", s),
                ("latitude", pa.float64()),
                ("longitude", pa.float64()),
                ("geometry", pa.binary()),
            ]
        ),
        "incident_zones": pa.schema(
            [("agency", s), ("incident_id", s), ("layer", s), ("zone_id", s)]
        ),
        "incident_cells": pa.schema(
            [("agency", s), ("incident_id", s), ("resolution", pa.int8()), ("h3_cell", s)]
        ),
        "units": pa.schema(
            [
                ("agency", s),
                ("unit_id", s),
                ("station_id", s),
                ("unit_type", s),
                ("staffing", pa.int32()),
                ("source", s),
            ]
        ),
    }


def fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(dest: Path, write: Callable[[Path], Any]) -> None:
    """Write ``dest`` through a temporary file in its folder, then rename it into place.

    The temporary name ends in ``.tmp`` so no ``*.parquet`` glob ever sees it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


@contextmanager
def spatial_lock(root) -> Iterator[None]:
    """Serialise writers of ``spatial/`` (blocking; the operations are short)."""
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
    import pyarrow.parquet as pq

    schemas = arrow_schemas()
    # data files created empty when missing (existing ones are never touched)
    missing = {
        stations_path(root): schemas["stations"],
        cells_path(root): schemas["incident_cells"],
        units_path(root): schemas["units"],
    }
    # zero-row files that must hold the current schema (rewritten when it changed)
    current = {
        zones_dir(root) / EMPTY_FILE: schemas["zones"],
        incident_zones_dir(root) / EMPTY_FILE: schemas["incident_zones"],
        **{schema_path(root, t): schemas[t] for t in ("stations", "incident_cells", "units")},
    }
    try:
        for path, schema in missing.items():
            if not path.exists():
                atomic_write(path, partial(pq.write_table, schema.empty_table()))
        for path, schema in current.items():
            if not path.exists() or not pq.read_schema(path).equals(schema):
                atomic_write(path, partial(pq.write_table, schema.empty_table()))
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
        "create or replace view incident_zones as select agency, incident_id, layer, zone_id "
        f"from read_parquet({izones}, union_by_name = true)",
        "create or replace view incident_cells as select agency, incident_id, "
        f"resolution::TINYINT as resolution, h3_cell from read_parquet({cells}, "
        "union_by_name = true)",
        "create or replace view units as select agency, unit_id, station_id, unit_type, "
        f"staffing, source from read_parquet({units}, union_by_name = true)",
    ]
