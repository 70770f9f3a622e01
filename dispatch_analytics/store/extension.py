"""DuckDB's spatial extension, loaded offline from the ``duckdb-extension-spatial`` wheel.

Nothing depends on it: with it, :meth:`Store.connect(spatial=True)` adds the temporary views
``zones_geo`` and ``incidents_geo`` with real ``GEOMETRY`` columns for spatial SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .spatial_tables import _sql_str

__all__ = ["spatial_extension_path", "load_spatial_extension", "spatial_geometry_sql"]


def _duckdb_version() -> str:
    return duckdb.__version__


def spatial_extension_path() -> Path | None:
    """The spatial extension shipped by the ``duckdb-extension-spatial`` wheel, if it
    matches the running DuckDB; else None."""
    try:
        import duckdb_extension_spatial as pkg
    except ImportError:
        return None
    from importlib.metadata import PackageNotFoundError, version

    ver = _duckdb_version()
    try:
        if version("duckdb_extension_spatial") != ver:
            return None
    except PackageNotFoundError:  # pragma: no cover - vendored without metadata
        pass
    base = Path(pkg.__file__).parent if pkg.__file__ else Path(list(pkg.__path__)[0])
    p = base / "extensions" / f"v{ver}" / "spatial.duckdb_extension"
    return p if p.is_file() else None


def load_spatial_extension(con: duckdb.DuckDBPyConnection) -> bool:
    """Load DuckDB's spatial extension offline, from the ``duckdb-extension-spatial`` wheel.

    Never installs anything from the network.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection

    Returns
    -------
    bool
        True if spatial is loaded in ``con``; False if the wheel is missing, does not match
        the DuckDB version, or fails to load.
    """
    try:
        row = con.execute(
            "select loaded from duckdb_extensions() where extension_name = 'spatial'"
        ).fetchone()
        if row and row[0]:
            return True
    except duckdb.Error:  # pragma: no cover
        pass
    p = spatial_extension_path()
    if p is None:
        return False
    try:
        con.execute(f"load {_sql_str(str(p))}")
    except duckdb.Error:
        return False
    return True


def spatial_geometry_sql() -> list[str]:
    """Views with real ``GEOMETRY`` columns; run them only once the spatial extension is
    loaded (:func:`load_spatial_extension` returned True).

    ``zones_geo``: every ``zones`` column plus ``geom``; ``incidents_geo``: ``incident_id,
    geom`` (a point; null without coordinates). They are *temporary* views (per
    connection, allowed on read-only catalogs), so the catalog file never depends on the
    extension.

    Returns
    -------
    list of str
    """
    return [
        "create or replace temp view zones_geo as select *, ST_GeomFromWKB(geometry) as geom "
        "from zones",
        "create or replace temp view incidents_geo as select incident_id, "
        "ST_Point(longitude, latitude) as geom from incidents",
    ]
