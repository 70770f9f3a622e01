"""Zone layers: loading a polygon file as a layer of the store (:func:`load_zones`).

A *zone layer* is a set of polygons incidents are counted in: NFPA 1720 demand zones,
first-due station areas, battalions, neighbourhoods... Each is stored as
``spatial/zones/<layer>.parquet`` (GeoParquet, EPSG:4326: layer, zone_id, name,
density_class, area_km2, geometry), in zone order: the order of the features in the source
file, which decides the zone of a point in several zones (see :mod:`.index`).

Loading runs in steps: read the file (:func:`~dispatch_analytics.io.vector.read_vector`),
validate fields, ids, geometry types and density classes collecting every problem, repair
invalid polygons, bring them to EPSG:4326 (:func:`~dispatch_analytics.io.vector.apply_crs`),
raise once if anything is wrong, measure areas, overlaps and gaps (:mod:`.geometry`), then,
under the spatial lock, assign the store's incidents to the new layer (:mod:`.assign`) and
publish the layer and its assignment together by one rename (:func:`_write_and_assign`).

Heavy libraries (geopandas, shapely, pyogrio, pyproj, h3) are imported inside the functions
that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ZoneError
from ..io.vector import apply_crs, read_vector
from ..store.crash import crash_point
from ..store.spatial_tables import (
    atomic_write,
    clean_stale_assignments,
    init_spatial,
    spatial_lock,
    zones_dir,
)
from .assign import assign_incidents, assign_new_layer, outside_incidents
from .changed import ensure_assigned
from .geometry import coerce_polygons, measure_layer, repair_polygons
from .index import assign_point_index, assign_points
from .layers import list_layers, read_layer
from .validate import (
    LAYER_NAME_RE,
    check_layer_name,
    checked_ids,
    feature_labels,
    field_problem,
    id_problems,
    listing,
    text_values,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "DENSITY_CLASSES",
    "LAYER_NAME_RE",
    "ZoneError",
    "ZoneReport",
    "load_zones",
    "list_layers",
    "read_layer",
    # re-exported from .index and .assign, where they live
    "assign_points",
    "assign_point_index",
    "assign_incidents",
    "outside_incidents",
]

#: NFPA 1720 demand-zone classes accepted in a layer's ``density_field`` (case-insensitive).
DENSITY_CLASSES: tuple[str, ...] = ("urban", "suburban", "rural", "remote")


@dataclass
class ZoneReport:
    """What :func:`load_zones` stored and found.

    Attributes
    ----------
    layer : str
        The layer name.
    n_zones : int
        Zones stored.
    crs_in : str
        The CRS the source coordinates were read in (before reprojection to EPSG:4326).
    repaired : list of str
        Ids of zones whose invalid geometry was repaired with ``shapely.make_valid``.
    overlaps : list of (str, str, float)
        Pairs of zones ``(a, b, area_km2)`` whose intersection exceeds 0.01 % of the
        smaller zone; ``a`` comes first in zone order (and wins points in the overlap).
    gaps_count, gaps_area_km2 : int, float
        Holes in the union of the layer's zones (interior rings of at least 1 m2), and
        their total area.
    incidents_assigned, incidents_outside, incidents_unlocated : int
        Incidents now in a zone of this layer; with coordinates but in no zone; without
        coordinates. All 0 when the data directory holds no store yet.
    source : str
        The file read.
    """

    layer: str
    n_zones: int
    crs_in: str
    repaired: list[str] = field(default_factory=list)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    gaps_count: int = 0
    gaps_area_km2: float = 0.0
    incidents_assigned: int = 0
    incidents_outside: int = 0
    incidents_unlocated: int = 0
    source: str = ""

    def summary(self) -> str:
        """A few human-readable lines (what the CLI prints)."""
        lines = [
            f"layer {self.layer!r}: {self.n_zones} zones from {self.source} (CRS {self.crs_in})",
            f"incidents: {self.incidents_assigned:,} in a zone, {self.incidents_outside:,} "
            f"outside every zone, {self.incidents_unlocated:,} without coordinates",
        ]
        if self.repaired:
            lines.append("repaired invalid geometry: " + ", ".join(map(repr, self.repaired)))
        if self.overlaps:
            shown = ", ".join(f"{a!r}/{b!r} {km2:.4g} km2" for a, b, km2 in self.overlaps[:10])
            more = f" (and {len(self.overlaps) - 10} more)" if len(self.overlaps) > 10 else ""
            lines.append(f"overlapping zones (points go to the first): {shown}{more}")
        if self.gaps_count:
            lines.append(
                f"gaps (holes in the layer): {self.gaps_count}, {self.gaps_area_km2:.4g} km2"
            )
        return "\n".join(lines)


@dataclass
class _Zones:
    """The validated attributes of a layer's features, in zone order."""

    ids: list[str | None]
    labels: list[str]
    names: list[str | None]
    density: list[str | None]
    geoms: np.ndarray


def _check_fields(gdf, path, problems: list[str], **named: str | None) -> list[str]:
    """The fields of ``gdf``; a problem for no features and for each named field missing."""
    fields = [c for c in gdf.columns if c != gdf.geometry.name]
    if len(gdf) == 0:
        problems.append(f"{path} has no features")
    for arg, name in named.items():
        if name is not None:
            p = field_problem(arg, name, fields, path)
            if p:
                problems.append(p)
    return fields


def _density_classes(gdf, density_field, fields, labels, problems) -> list[str | None]:
    """The lower-case demand-zone class of each zone (None without ``density_field``)."""
    density: list[str | None] = [None] * len(gdf)
    if density_field is None or density_field not in fields:
        return density
    bad: dict[str, list[str]] = {}
    for i, v in enumerate(text_values(gdf[density_field])):
        low = v.lower() if v is not None else None
        if low in DENSITY_CLASSES:
            density[i] = low
        else:
            bad.setdefault("blank" if v is None else repr(v), []).append(labels[i])
    if bad:
        shown = "; ".join(f"{v} (zones {listing(z)})" for v, z in bad.items())
        problems.append(
            f"`density_field` {density_field!r} must be one of "
            f"{', '.join(DENSITY_CLASSES)} (any case); bad values: {shown}"
        )
    return density


def _validate(gdf, path, id_field, name_field, density_field, problems: list[str]) -> _Zones:
    """Fields, ids, geometry types and density classes; problems are collected, not raised."""
    fields = _check_fields(
        gdf,
        path,
        problems,
        id_field=id_field,
        name_field=name_field,
        density_field=density_field,
    )
    ids: list[str | None] = text_values(gdf[id_field]) if id_field in fields else [None] * len(gdf)
    if id_field in fields:
        problems += id_problems("id_field", id_field, ids, "zone")
    labels = feature_labels(ids)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    coerce_polygons(geoms, labels, problems)
    density = _density_classes(gdf, density_field, fields, labels, problems)
    has_names = name_field is not None and name_field in fields
    names: list[str | None] = text_values(gdf[name_field]) if has_names else [None] * len(gdf)
    return _Zones(ids, labels, names, density, geoms)


def _repair_and_reproject(
    gdf, zones: _Zones, crs, path, problems: list[str], head: str
) -> tuple[np.ndarray, str, dict[int, str]]:
    """Repair polygons where they were drawn, reproject them, repair again; raise problems.

    Returns the EPSG:4326 geometries, the CRS label and ``{position: reason}`` of repairs.
    """
    import geopandas as gpd

    repairs: dict[int, str] = {}
    repair_polygons(zones.geoms, zones.labels, repairs, problems)
    gdf = gdf.set_geometry(gpd.GeoSeries(zones.geoms, index=gdf.index, crs=gdf.crs))
    # stacklevel 3: the warning points at the caller of load_zones
    gdf4326, crs_in = apply_crs(gdf, crs, path, problems, stacklevel=3)
    if problems:
        raise ZoneError(problems, head)
    if gdf4326 is None:  # apply_crs returns None only with a problem
        raise ZoneError("internal error: no reprojected layer and no problem", head)
    geoms = np.asarray(gdf4326.geometry.values, dtype=object)
    repair_polygons(geoms, zones.labels, repairs, problems)
    if problems:  # pragma: no cover - reprojection collapsed a polygon
        raise ZoneError(problems, head)
    return geoms, crs_in, repairs


def _warn_repairs(layer: str, labels: list[str], repairs: dict[int, str]) -> None:
    for i in sorted(repairs):
        warnings.warn(
            f"zone {labels[i]} of layer {layer!r}: invalid geometry ({repairs[i]}); "
            "repaired with shapely.make_valid (polygonal parts kept)",
            UserWarning,
            stacklevel=3,  # the caller of load_zones
        )


def _zone_frame(
    layer: str, zones: _Zones, areas: np.ndarray, geoms, agency: str | None = None
) -> gpd.GeoDataFrame:
    """The layer as stored: text columns as Arrow strings, areas in km2, EPSG:4326."""
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa

    string = pd.ArrowDtype(pa.string())
    return gpd.GeoDataFrame(
        {
            "layer": pd.array([layer] * len(zones.ids), dtype=string),
            "agency": pd.array([agency] * len(zones.ids), dtype=string),
            "zone_id": pd.array(zones.ids, dtype=string),
            "name": pd.array(zones.names, dtype=string),
            "density_class": pd.array(zones.density, dtype=string),
            "area_km2": areas / 1e6,
        },
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
    )


def _write_and_assign(root, layer: str, out) -> dict[str, int]:
    """Publish the layer and its assignment together, under the spatial lock.

    The layer gets a new ``generation``; its assignment is written first under that
    generation (invisible: the ``incident_zones`` view shows only the generation of the
    layer's file), then the layer file's one rename publishes both. The previous
    generation's assignment is deleted afterwards (or by the next writer if this one is
    killed). A kill at any point leaves the old layer with its assignment or the new one
    with its own, never incidents pointing at zones that no longer exist.
    """
    out = out.assign(generation=np.int64(time.time_ns()))
    with spatial_lock(root):
        crash_point("zones.locked")
        init_spatial(root)
        counts = assign_new_layer(root, layer, out)
        atomic_write(zones_dir(root) / f"{layer}.parquet", out.to_parquet, "zones.layer")
        clean_stale_assignments(root)
        crash_point("zones.cleaned")
        ensure_assigned(root)  # other layers, if an earlier writer was killed
    return counts


# Long: a long numpydoc docstring; the body is a sequence of ~20 lines of steps.
def load_zones(
    root: str | os.PathLike,
    path: str | os.PathLike,
    layer: str,
    id_field: str,
    name_field: str | None = None,
    density_field: str | None = None,
    source_layer: str | None = None,
    crs: str | None = None,
    agency: str | None = None,
) -> ZoneReport:
    """Load (or replace) a zone layer, then assign the store's incidents to it.

    Parameters
    ----------
    root : path
        The store root (``Store.root``).
    path : path
        GeoJSON, GeoPackage, Shapefile, zipped Shapefile (``.zip``) or GeoParquet, in any
        CRS; polygons are reprojected to EPSG:4326.
    layer : str
        The layer name, snake_case (``[a-z][a-z0-9_]*``), e.g. ``demand_zones``. A layer of
        that name is replaced.
    id_field : str
        The field holding each zone's unique id (stored as text).
    name_field : str, optional
        A field with a display name.
    density_field : str, optional
        A field with the NFPA 1720 demand-zone class of each zone: urban, suburban, rural
        or remote (any case; stored lower-case).
    source_layer : str, optional
        Which layer of a multi-layer source (GeoPackage) to read.
    crs : str, optional
        The CRS of the coordinates (e.g. ``"EPSG:2227"``): required when the file has
        none, and overrides the file's when given.
    agency : str, optional
        The agency the layer belongs to: only that agency's incidents are assigned to it
        (and counted as outside it). Without it the layer is shared by every agency.

    Returns
    -------
    ZoneReport
        Zones stored, repairs, overlaps, gaps and the incident counts of the layer.

    Raises
    ------
    ZoneError
        The layer name, a field, an id, a geometry or the CRS is wrong; the message lists
        every problem found.
    IngestError
        The file cannot be read.

    Warns
    -----
    UserWarning
        For each zone whose invalid geometry was repaired (``shapely.make_valid``, keeping
        the polygonal parts), naming the zone.

    Notes
    -----
    Areas, overlaps (zone pairs intersecting by more than 0.01 % of the smaller zone) and
    gaps (holes in the union of the zones; slivers under 1 m2 are ignored as digitising
    noise) are computed in a Lambert azimuthal equal-area projection centred on the layer.

    Examples
    --------
    >>> rep = load_zones(store.root, "demand_zones.gpkg", "demand_zones", id_field="ZONE",
    ...                  density_field="CLASS")  # doctest: +SKIP
    >>> print(rep.summary())  # doctest: +SKIP
    """
    check_layer_name(layer)
    head = f"cannot load layer {layer!r} from {path}"
    gdf = read_vector(path, source_layer)
    problems: list[str] = []
    zones = _validate(gdf, path, id_field, name_field, density_field, problems)
    geoms, crs_in, repairs = _repair_and_reproject(gdf, zones, crs, path, problems, head)
    _warn_repairs(layer, zones.labels, repairs)
    ids = checked_ids(zones.ids)
    areas, overlaps, gaps_count, gaps_area = measure_layer(geoms, ids)
    out = _zone_frame(layer, zones, areas, geoms, agency)
    report = ZoneReport(
        layer=layer,
        n_zones=len(out),
        crs_in=crs_in,
        repaired=[ids[i] for i in sorted(repairs)],
        overlaps=overlaps,
        gaps_count=gaps_count,
        gaps_area_km2=gaps_area,
        source=str(path),
    )
    c = _write_and_assign(root, layer, out)
    report.incidents_assigned = c.get("assigned", 0)
    report.incidents_outside = c.get("outside", 0)
    report.incidents_unlocated = c.get("no_coordinates", 0)
    return report
