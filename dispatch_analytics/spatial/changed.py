"""Assignment of the incidents that changed since the last complete assignment (an ingest
costs its batch, not the store), and the catch-up of a killed writer's assignment.

The stamp ``spatial/assigned.parquet`` names the batches the assignment covers; the
incidents of the batches published or removed since are located again in every layer and H3
cell, and each assignment file is rewritten with their rows replaced (one rename each, the
stamp last). A layer load, a missing stamp or another H3 resolution assigns every incident
(:mod:`.assign`).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ..store.assignment_parts import apply_changed, clean_parts, table_files
from ..store.crash import crash_point
from ..store.spatial_tables import (
    cells_path,
    clean_stale_assignments,
    incident_zones_path,
    layer_generations,
    spatial_lock,
)
from .assign import (
    _assign_incidents,
    _cell_rows,
    _cells_resolution,
    _check_h3_resolution,
    _live_batches,
    _read_incidents,
    _stamp,
    _write_stamp,
    _zone_rows,
)
from .index import assign_point_index
from .layers import layer_zone_arrays as _layer_zones
from .layers import list_layers

__all__ = ["assign_changed", "ensure_assigned"]


def _located_counts(con, agency: str | None) -> tuple[int, int]:
    """(incidents, incidents with both coordinates) in a layer's scope."""
    where = "" if agency is None else "where agency = $agency"
    row = con.execute(
        "select count(*), count(*) filter (where latitude is not null and longitude is not "
        f"null and isfinite(latitude) and isfinite(longitude)) from incidents {where}",
        {} if agency is None else {"agency": agency},
    ).fetchone()
    return int(row[0]), int(row[1])


def _changed_incidents(store, con, keys: pl.DataFrame) -> pl.DataFrame:
    """The changed incidents as they are now (a removed one is gone): from the derived
    table's parts holding them when it is current, else from the ``incidents`` view (the
    keys reach DuckDB as a Parquet file: registering a frame would import pandas through
    pyarrow.dataset)."""
    cols = ["agency", "incident_id", "latitude", "longitude"]
    rows = store.derived_rows(keys, cols)
    if rows is not None:
        return rows.with_columns(
            pl.col("agency").cast(pl.String),
            pl.col("incident_id").cast(pl.String),
            pl.col("latitude").cast(pl.Float64),
            pl.col("longitude").cast(pl.Float64),
        )
    tmp = store.tmp_dir / f"changed-{os.getpid()}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    keys.write_parquet(tmp)
    try:
        path = "'" + str(tmp).replace("'", "''") + "'"
        return _read_incidents(
            con,
            f"semi join read_parquet({path}) k on k.agency = i.agency "
            "and k.incident_id = i.incident_id",
        )
    finally:
        tmp.unlink(missing_ok=True)


def _scope_counts(files: list[Path], agency: str | None, column: str) -> tuple[int, int]:
    """(rows, rows with ``column`` not null) over the files of one assignment table, in a
    layer's scope (only the columns needed are read)."""
    lf = pl.scan_parquet([str(f) for f in files], glob=False)
    if agency is not None:
        lf = lf.filter(pl.col("agency") == agency)
    row = lf.select(pl.len(), pl.col(column).is_not_null().sum()).collect().row(0)
    return int(row[0]), int(row[1])


# Long: the incremental twin of _assign_incidents, step by step with the same crash stages
def _assign_changed(root, store, con, h3_resolution) -> dict[str, dict[str, int]] | None:
    """:func:`assign_changed` without the lock; None when only a full run will do."""
    stamp, live = _stamp(root), sorted(store.live_batches())
    if stamp is None:
        return None
    resolution = _cells_resolution(root)
    cells_file = cells_path(root)
    if h3_resolution is not None and resolution != h3_resolution:
        return None  # every cell changes (or none is stored yet: every incident needs one)
    gens = layer_generations(root)
    layers = list_layers(root)
    if any(
        layer not in gens or not incident_zones_path(root, layer, gens[layer]).is_file()
        for layer in layers
    ):
        return None  # a layer without its assignment file (e.g. loaded before the store)
    _check_h3_resolution(h3_resolution)
    crash_point("assign.begin")
    keys = store.changed_keys(set(live) - set(stamp), set(stamp) - set(live))
    inc = _changed_incidents(store, con, keys)
    assigned: dict[str, tuple[str | None, int]] = {}
    for layer in layers:
        zone_ids, geoms, agency = _layer_zones(root, layer)
        generation = gens[layer]
        scoped = inc if agency is None else inc.filter(pl.col("agency") == agency)
        lat = scoped["latitude"].to_numpy().astype(np.float64)
        lon = scoped["longitude"].to_numpy().astype(np.float64)
        idx = assign_point_index(lon, lat, geoms)
        new = _zone_rows(scoped, layer, idx, zone_ids, generation)
        path = incident_zones_path(root, layer, generation)
        apply_changed(root, path, keys, new, "assign.layer")  # a new part, usually
        assigned[layer] = (agency, _scope_counts(table_files(path), None, "zone_id")[1])
    crash_point("assign.layers_done")
    clean_stale_assignments(root)
    clean_parts(root)
    if h3_resolution is not None:
        lat = inc["latitude"].to_numpy().astype(np.float64)
        lon = inc["longitude"].to_numpy().astype(np.float64)
        cells = _cell_rows(inc, lat, lon, int(h3_resolution))
        apply_changed(root, cells_file, keys, cells, "assign.cells")
    counts: dict[str, dict[str, int]] = {}
    for layer, (agency, n_assigned) in assigned.items():
        if h3_resolution is not None:  # stored coordinates are in range: a cell iff located
            n, located = _scope_counts(table_files(cells_file), agency, "h3_cell")
        else:
            n, located = _located_counts(con, agency)
        counts[layer] = {
            "assigned": n_assigned,
            "outside": located - n_assigned,
            "no_coordinates": n - located,
        }
    _write_stamp(root, live)
    return counts


def assign_changed(
    root: str | os.PathLike,
    con: duckdb.DuckDBPyConnection,
    h3_resolution: int | None = 8,
    store=None,
) -> dict[str, dict[str, int]]:
    """Assign only the incidents that changed since the last complete assignment.

    The incidents of the batches published (or removed) since ``spatial/assigned.parquet``
    was written are located again in every loaded layer and H3 cell; every other
    incident keeps its assignment (a full run, :func:`assign_incidents`, happens instead
    when there is no stamp, a layer lacks its assignment file, or the H3 resolution
    changes). Each file is rewritten by one rename, as a full run does; the stamp last.

    Parameters
    ----------
    root : path
        The store root.
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views (``Store(root).connect_attached()``).
    h3_resolution : int or None
        H3 resolution 0-15; None leaves the cells file as is.
    store : Store, optional
        The store at ``root`` when the caller has it open.

    Returns
    -------
    dict
        As :func:`assign_incidents` (counts over every incident, not only the changed).

    Raises
    ------
    ZoneError
        The resolution is out of range.
    StoreError
        ``con`` has no ``incidents`` view, or ``root`` holds no store.
    """
    from ..store import Store

    store = store or Store(root, create=False)
    with spatial_lock(root):
        out = _assign_changed(root, store, con, h3_resolution)
        if out is None:
            out = _assign_incidents(root, con, None, h3_resolution)
        return out


def ensure_assigned(root: str | os.PathLike, h3_resolution: int | None = 8) -> bool:
    """Redo the zone / H3 assignment if it does not cover the batches visible now.

    A writer killed between publishing batches and assigning their incidents leaves the
    assignment stale (``spatial/assigned.parquet`` lists other batches); the next writer
    calls this under its lock and assigns the incidents of the batches published or
    removed since the stamp again (every incident when there is no stamp). Call it holding
    :func:`~dispatch_analytics.store.spatial_tables.spatial_lock`.

    Parameters
    ----------
    root : path
        The store root.
    h3_resolution : int or None
        Resolution for the cells when none are stored yet (the stored cells keep theirs).

    Returns
    -------
    bool
        True when the assignment was redone.
    """
    live = _live_batches(root)
    if live is None or _stamp(root) == live:
        return False
    if not list_layers(root) and live == ["_init"]:
        return False  # an empty store: nothing to assign
    resolution = _cells_resolution(root)
    resolution = h3_resolution if resolution is None else resolution
    from ..store import Store

    store = Store(root, create=False)
    con = store.connect_attached()
    try:  # the changed incidents only, when the stamp allows (the merge is idempotent)
        if _assign_changed(root, store, con, resolution) is None:
            _assign_incidents(root, con, None, resolution)
    finally:
        con.close()
    return True
