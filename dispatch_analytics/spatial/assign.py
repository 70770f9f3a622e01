"""Assignment of every incident to a zone per layer, and to an H3 cell (the incremental
assignment of the incidents an ingest changed is in :mod:`.changed`).

Writes, under the store root (atomically, under the spatial lock)::

    spatial/incident_zones/<layer>.<generation>.parquet
                                           incident_id, layer, zone_id (null = in no zone),
                                           generation (the layer file's)
    spatial/incident_cells.parquet         incident_id, resolution, h3_cell
    spatial/assigned.parquet               the batches a complete run covered

A point in several zones goes to the first in zone order (see :mod:`.index`). A complete
run (every layer) ends by writing ``assigned.parquet``; a writer finding it stale (the
batches visible changed since, e.g. an ingest killed before its assignment) runs it again
(:func:`ensure_assigned`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb
import numpy as np
import polars as pl

from ..errors import StoreError, ZoneError
from ..store.assignment_parts import clean_parts, publish_whole, table_files
from ..store.crash import crash_point
from ..store.spatial_tables import (
    assigned_path,
    atomic_write,
    cells_path,
    clean_stale_assignments,
    incident_zones_path,
    init_spatial,
    layer_generations,
    spatial_lock,
)
from .h3cells import _h3_cells
from .index import assign_point_index, zone_geoms_4326
from .layers import layer_zone_arrays, list_layers, unknown_layer
from .validate import text_values

__all__ = [
    "assign_incidents",
    "assign_store_incidents",
    "assign_new_layer",
    "layer_agency",
    "outside_incidents",
]


def _read_incidents(con: duckdb.DuckDBPyConnection, where: str = "") -> pl.DataFrame:
    try:
        rel = con.sql(f"select agency, incident_id, latitude, longitude from incidents i {where}")
        df = rel.pl()
    except duckdb.CatalogException as exc:
        raise StoreError(
            "the connection has no `incidents` view; pass the one `Store(root).connect()` returns"
        ) from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot read incidents: {exc}") from exc
    return df.with_columns(
        pl.col("agency").cast(pl.String),
        pl.col("incident_id").cast(pl.String),
        pl.col("latitude").cast(pl.Float64),
        pl.col("longitude").cast(pl.Float64),
    )


def _check_h3_resolution(h3_resolution) -> None:
    if h3_resolution is not None and (
        isinstance(h3_resolution, bool)
        or not isinstance(h3_resolution, (int, np.integer))
        or not 0 <= h3_resolution <= 15
    ):
        raise ZoneError(f"`h3_resolution` must be an integer from 0 to 15, got {h3_resolution!r}")


def layer_agency(zones) -> str | None:
    """The agency a loaded layer belongs to (None: shared by every agency)."""
    if "agency" not in zones.columns or not len(zones):
        return None
    values = [v for v in zones["agency"].dropna().unique().tolist() if v is not None]
    return str(values[0]) if values else None


def _write_layer(
    root, layer: str, inc: pl.DataFrame, zones=None, stage: str = "assign.layer"
) -> tuple[np.ndarray, int]:
    """Write the assignment file of ``layer`` (at the generation of its zones: the file's,
    or ``zones`` about to be published) for the incidents in the layer's scope (its
    agency's, or all for a shared layer); returns each one's zone position and how many of
    them have coordinates."""
    if zones is None:  # the stored layer, read without GeoPandas (the ingest path)
        zone_ids, geoms, agency = layer_zone_arrays(root, layer)
        generation = layer_generations(root).get(layer)
    else:
        generation = int(zones["generation"].iloc[0]) if len(zones) else None
        zone_ids, geoms = zones["zone_id"].tolist(), zone_geoms_4326(zones)
        agency = layer_agency(zones)
    if agency is not None:
        inc = inc.filter(pl.col("agency") == agency)
    lat = inc["latitude"].to_numpy().astype(np.float64)
    lon = inc["longitude"].to_numpy().astype(np.float64)
    idx = assign_point_index(lon, lat, geoms)
    out = _zone_rows(inc, layer, idx, zone_ids, generation)
    publish_whole(root, incident_zones_path(root, layer, generation), out, stage)
    return idx, int((np.isfinite(lat) & np.isfinite(lon)).sum())


def _zone_rows(
    inc: pl.DataFrame, layer: str, idx: np.ndarray, zone_ids, generation
) -> pl.DataFrame:
    """The assignment rows of ``inc``: zone ``idx`` (a position in ``zone_ids``, -1: none)."""
    ids = pl.Series("zone_id", text_values(zone_ids), dtype=pl.String)
    return inc.select(
        pl.col("agency"),
        pl.col("incident_id"),
        pl.lit(layer, pl.String).alias("layer"),
        pl.when(pl.Series(idx) >= 0)
        .then(pl.lit(ids).gather(pl.Series(idx).clip(0)))
        .cast(pl.String)
        .alias("zone_id"),
        pl.lit(generation, pl.Int64).alias("generation"),
    )


def _counts(idx: np.ndarray, n_located: int) -> dict[str, int]:
    assigned = int((idx >= 0).sum())
    return {
        "assigned": assigned,
        "outside": n_located - assigned,
        "no_coordinates": len(idx) - n_located,
    }


def _cell_rows(inc: pl.DataFrame, lat, lon, resolution: int) -> pl.DataFrame:
    return inc.select(
        pl.col("agency"),
        pl.col("incident_id"),
        pl.lit(resolution, pl.Int8).alias("resolution"),
        _h3_cells(lat, lon, resolution).alias("h3_cell"),
    )


def _write_cells(root, inc: pl.DataFrame, lat, lon, resolution: int) -> None:
    cells = _cell_rows(inc, lat, lon, resolution)
    publish_whole(root, cells_path(root), cells, "assign.cells")


def _live_batches(root) -> list[str] | None:
    """The batches the views show now (None: no store at ``root``)."""
    from ..store import Store

    try:
        return sorted(Store(root, create=False).live_batches())
    except StoreError:
        return None


def _write_stamp(root, batches: list[str]) -> None:
    stamp = pl.DataFrame({"batch_id": batches}, schema={"batch_id": pl.String})
    atomic_write(assigned_path(root), stamp.write_parquet, "assign.stamp")


def _stamp(root) -> list[str] | None:
    p = assigned_path(root)
    if not p.is_file():
        return None
    try:
        return sorted(pl.read_parquet(p)["batch_id"].to_list())
    except (OSError, pl.exceptions.PolarsError):  # pragma: no cover - a damaged stamp
        return None


def _assign_incidents(root, con, layers, h3_resolution) -> dict[str, dict[str, int]]:
    """:func:`assign_incidents` without taking the lock."""
    all_layers = list_layers(root)
    todo = all_layers if layers is None else list(layers)
    for layer in todo:
        if layer not in all_layers:
            raise unknown_layer(root, layer)
    _check_h3_resolution(h3_resolution)
    crash_point("assign.begin")
    init_spatial(root)
    # the batches covered are read before the incidents: a batch published in between is
    # then missing from the stamp (and assigned again), never claimed without being assigned
    batches = _live_batches(root) if layers is None else None
    inc = _read_incidents(con)
    lat = inc["latitude"].to_numpy().astype(np.float64)
    lon = inc["longitude"].to_numpy().astype(np.float64)
    counts: dict[str, dict[str, int]] = {}
    for layer in todo:
        counts[layer] = _counts(*_write_layer(root, layer, inc))
    crash_point("assign.layers_done")
    clean_stale_assignments(root)  # earlier generations, layers that are gone
    clean_parts(root)
    if h3_resolution is not None:
        _write_cells(root, inc, lat, lon, int(h3_resolution))
    if batches is not None:
        _write_stamp(root, batches)
    return counts


def _cells_resolution(root) -> int | None:
    """The H3 resolution of the stored cells (None when there are none)."""
    files = [str(f) for f in table_files(cells_path(root))]
    if not files:
        return None
    try:
        res = pl.scan_parquet(files, glob=False).select("resolution").head(1).collect()
    except (OSError, pl.exceptions.PolarsError):
        return None
    return int(res["resolution"][0]) if res.height else None


def assign_new_layer(root, layer: str, zones) -> dict[str, int]:
    """Write the assignment of ``zones``, a layer about to be published under its new
    generation, before its file is renamed into place (invisible until then). Call under
    the spatial lock; ``{}`` when ``root`` holds no store."""
    from ..store import Store

    try:
        store = Store(root, create=False)
    except StoreError:
        return {}
    con = store.connect_attached()
    try:
        inc = _read_incidents(con)
    finally:
        con.close()
    return _counts(*_write_layer(root, layer, inc, zones, stage="zones.assignment"))


def assign_incidents(
    root: str | os.PathLike,
    con: duckdb.DuckDBPyConnection,
    layers: Sequence[str] | None = None,
    h3_resolution: int | None = 8,
) -> dict[str, dict[str, int]]:
    """Assign every incident to a zone of each layer, and to an H3 cell.

    Writes ``spatial/incident_zones/<layer>.<generation>.parquet`` (``incident_id, layer,
    zone_id``; zone_id null when the incident is in no zone or has no coordinates; the
    generation of the layer's file) for each layer and ``spatial/incident_cells.parquet``
    (``incident_id, resolution, h3_cell``), each atomically; a run over every layer ends by
    recording the batches it covered (``spatial/assigned.parquet``). ``dispatch ingest`` and
    ``batches remove`` run it under the writer lock.

    Parameters
    ----------
    root : path
        The store root.
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views (``Store(root).connect()``); only the
        ``incidents`` view is read.
    layers : list of str, optional
        Layers to (re)assign; default every loaded layer (assignments of layers no longer
        loaded are then removed).
    h3_resolution : int or None
        H3 resolution 0-15 (8: cells of about 0.74 km2); None leaves the cells file as is.

    Returns
    -------
    dict
        ``{layer: {"assigned": n, "outside": n, "no_coordinates": n}}``; ``outside``
        counts incidents with coordinates in no zone.

    Raises
    ------
    ZoneError
        A layer is not loaded, or the resolution is out of range.
    StoreError
        ``con`` has no ``incidents`` view.
    """
    with spatial_lock(root):
        return _assign_incidents(root, con, layers, h3_resolution)


def outside_incidents(
    con: duckdb.DuckDBPyConnection, layer: str, include_unlocated: bool = False
) -> pl.DataFrame:
    """Incidents outside every zone of a layer (from the ``incident_zones`` view).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views, including those of :func:`spatial_view_sql`.
    layer : str
        A loaded layer.
    include_unlocated : bool
        Also list incidents without coordinates (by default only located ones).

    Returns
    -------
    polars.DataFrame
        ``agency, incident_id, latitude, longitude``, by agency and incident id (only
        incidents in the layer's scope: its agency's, or every agency's for a shared layer).

    Raises
    ------
    ZoneError
        The layer is not loaded, or the connection lacks the spatial views.
    """
    try:
        loaded = [
            r[0] for r in con.execute("select distinct layer from zones order by 1").fetchall()
        ]
        if layer not in loaded:
            raise ZoneError(
                f"`layer` {layer!r} is not loaded; loaded layers: "
                f"{', '.join(loaded) if loaded else '(none)'}; load one with "
                "`dispatch zones load`"
            )
        where = (
            "" if include_unlocated else (" and i.latitude is not null and i.longitude is not null")
        )
        return con.execute(
            "select z.agency, z.incident_id, i.latitude, i.longitude from incident_zones z "
            "left join incidents i using (agency, incident_id) "
            f"where z.layer = $layer and z.zone_id is null{where} "
            "order by z.agency, z.incident_id",
            {"layer": layer},
        ).pl()
    except duckdb.CatalogException as exc:
        raise ZoneError(
            "the connection lacks the `zones` / `incident_zones` / `incidents` "
            f"views ({exc}); add spatial_view_sql(root) to the catalog"
        ) from exc


def assign_store_incidents(
    root: str | os.PathLike, layers: list[str] | None, h3_resolution: int | None = None
) -> dict[str, dict[str, int]]:
    """Assign the incidents of the store at ``root``, if there is one, to ``layers``.

    The caller holds :func:`~dispatch_analytics.store.spatial_tables.spatial_lock`; H3 cells
    are left as they are unless ``h3_resolution`` is given.

    Parameters
    ----------
    root : path
        The store root (it may hold zones but no store yet).
    layers : list of str or None
        Layers to (re)assign; None: every loaded layer (and the stamp of the batches
        covered is written).
    h3_resolution : int or None
        Also rewrite the H3 cells at this resolution.

    Returns
    -------
    dict
        As :func:`assign_incidents`; empty when ``root`` holds no store.
    """
    from ..store import Store

    try:
        store = Store(root, create=False)
    except StoreError:
        return {}
    con = store.connect_attached()
    try:
        return _assign_incidents(root, con, layers, h3_resolution)
    finally:
        con.close()
