"""The zone layers stored under a store root: listing and reading them.

Each layer is ``spatial/zones/<layer>.parquet`` (GeoParquet, EPSG:4326), written by
:func:`~dispatch_analytics.spatial.zones.load_zones`. This module sits below both the loader
and the incident assignment (:mod:`.assign`), which read layers.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import ZoneError
from ..store.spatial_tables import zones_dir
from .validate import LAYER_NAME_RE

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import numpy as np

__all__ = ["layer_zone_arrays", "list_layers", "read_layer", "unknown_layer"]


def list_layers(root: str | os.PathLike) -> list[str]:
    """Names of the zone layers loaded in the store, sorted.

    Parameters
    ----------
    root : path
        The store root.

    Returns
    -------
    list of str
    """
    d = zones_dir(root)
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.parquet") if LAYER_NAME_RE.fullmatch(p.stem))


def unknown_layer(root: str | os.PathLike, layer: object) -> ZoneError:
    """The error for a layer that is not loaded, listing the loaded ones.

    Parameters
    ----------
    root : path
        The store root.
    layer : str
        The layer asked for.

    Returns
    -------
    ZoneError
        To raise.
    """
    loaded = list_layers(root)
    return ZoneError(
        f"`layer` {layer!r} is not loaded; loaded layers: "
        f"{', '.join(loaded) if loaded else '(none)'}; load one with "
        "`dispatch zones load`"
    )


def read_layer(root: str | os.PathLike, layer: str) -> gpd.GeoDataFrame:
    """One zone layer as a GeoDataFrame (EPSG:4326), in zone order.

    Parameters
    ----------
    root : path
        The store root.
    layer : str
        A loaded layer (see :func:`list_layers`).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``layer, zone_id, name, density_class, area_km2, geometry``.

    Raises
    ------
    ZoneError
        The layer is not loaded (the message lists the loaded ones).
    """
    import geopandas as gpd

    p = zones_dir(root) / f"{layer}.parquet"
    if not isinstance(layer, str) or not LAYER_NAME_RE.fullmatch(layer) or not p.is_file():
        raise unknown_layer(root, layer)
    gdf = gpd.read_parquet(p)
    # the layer's generation (which assignment file belongs to it) is the store's business
    return gdf.drop(columns=["generation"], errors="ignore")


def layer_zone_arrays(root, layer: str) -> tuple[list[str | None], np.ndarray, str | None]:
    """(zone ids, geometries, agency) of a loaded layer, in zone order, read with pyarrow
    and shapely only (no GeoPandas: the ingest path imports neither it nor pandas). Stored
    layers are EPSG:4326 (``dispatch zones load`` reprojects)."""
    import numpy as np
    import pyarrow.parquet as pq
    import shapely

    from .validate import text_values

    path = zones_dir(root) / f"{layer}.parquet"
    names = pq.read_schema(path).names
    cols = [c for c in ("zone_id", "agency", "geometry") if c in names]
    table = pq.ParquetFile(path).read(columns=cols)
    wkb = table.column("geometry").combine_chunks()
    wkb = getattr(wkb, "storage", wkb)  # the geoarrow.wkb extension type holds binary
    geoms = shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))
    agencies = table.column("agency").to_pylist() if "agency" in cols else []
    agency = next((str(a) for a in agencies if a is not None), None)
    return text_values(table.column("zone_id").to_pylist()), geoms, agency
