"""Zone polygons: type checks, repair of invalid geometry, areas, overlaps and gaps.

Geometries are handled as numpy object arrays of shapely geometries, in zone order. Areas,
overlaps and gaps are measured in a Lambert azimuthal equal-area projection centred on the
layer (:func:`equal_area_crs`). shapely, geopandas and pyproj are imported inside functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .validate import listing

if TYPE_CHECKING:  # pragma: no cover
    import pyproj

__all__ = [
    "GAP_MIN_M2",
    "OVERLAP_MIN_FRACTION",
    "coerce_polygons",
    "equal_area_crs",
    "measure_layer",
    "overlaps_and_gaps",
    "polygonal_part",
    "repair_polygons",
]

#: Two zones overlap when their intersection exceeds this fraction of the smaller one's area.
OVERLAP_MIN_FRACTION = 1e-4

#: Holes in a layer smaller than this (square metres) are digitising noise, not gaps.
GAP_MIN_M2 = 1.0


def polygonal_part(g):
    """The polygonal part of a geometry.

    Parameters
    ----------
    g : shapely.Geometry or None

    Returns
    -------
    shapely.Polygon, shapely.MultiPolygon or None
        ``g`` itself when it is a (multi)polygon; the polygons of a geometry collection
        (one polygon, or a MultiPolygon of them); None when it has none.
    """
    import shapely

    if g is None or g.is_empty:
        return None
    t = g.geom_type
    if t in ("Polygon", "MultiPolygon"):
        return g
    if t == "GeometryCollection":
        parts = []
        for p in shapely.get_parts(g):
            if p.geom_type == "Polygon" and not p.is_empty:
                parts.append(p)
            elif p.geom_type == "MultiPolygon":
                parts.extend(shapely.get_parts(p))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return None


def coerce_polygons(geoms: np.ndarray, labels: list[str], problems: list[str]) -> None:
    """Check that every zone has a polygonal geometry; keep only the polygons of collections.

    Parameters
    ----------
    geoms : numpy.ndarray of object
        The zone geometries, changed in place (a geometry collection of polygons becomes
        its polygonal part).
    labels : list of str
        How messages name each zone (:func:`~.validate.feature_labels`).
    problems : list of str
        Messages appended: zones without geometry, then zones that are not polygons.
    """
    import shapely

    missing = [labels[i] for i, g in enumerate(geoms) if g is None or g.is_empty]
    if missing:
        problems.append(f"zones without geometry: {listing(missing)}")
    bad_type = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        parts_ok = g.geom_type != "GeometryCollection" or all(
            p.geom_type in ("Polygon", "MultiPolygon") for p in shapely.get_parts(g)
        )
        poly = polygonal_part(g) if parts_ok else None
        if poly is None:
            bad_type.append(f"{labels[i]} ({g.geom_type})")
        else:
            geoms[i] = poly
    if bad_type:
        problems.append(f"zones must be polygons; these are not: {listing(bad_type)}")


def repair_polygons(
    geoms: np.ndarray, labels: list[str], repairs: dict[int, str], problems: list[str]
) -> None:
    """Drop Z and repair invalid polygons in place (``make_valid``, polygonal parts kept).

    Parameters
    ----------
    geoms : numpy.ndarray of object
        The zone geometries, changed in place; entries that are not (multi)polygons are
        left alone.
    labels : list of str
        How messages name each zone.
    repairs : dict
        ``{position: reason}`` of each repaired zone is recorded here (the first reason of
        a zone is kept when it is repaired twice).
    problems : list of str
        A message is appended for each polygon with no area left after repair.
    """
    import shapely

    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok &= np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    if not ok.any():
        return
    geoms[ok] = shapely.force_2d(geoms[ok])
    for i in np.flatnonzero(ok & ~shapely.is_valid(geoms)):
        reason = shapely.is_valid_reason(geoms[i])
        fixed = polygonal_part(shapely.make_valid(geoms[i]))
        if fixed is None or fixed.area == 0:
            problems.append(
                f"zone {labels[i]} has an invalid geometry ({reason}) with no "
                "area left after repair; fix it in the source"
            )
            continue
        geoms[i] = fixed
        repairs.setdefault(int(i), reason)


def equal_area_crs(bounds) -> pyproj.CRS:
    """A Lambert azimuthal equal-area projection (WGS84 ellipsoid) centred on ``bounds``.

    Parameters
    ----------
    bounds : (float, float, float, float)
        ``(min lon, min lat, max lon, max lat)``.

    Returns
    -------
    pyproj.CRS
        In metres.
    """
    from pyproj import CRS

    x0, y0, x1, y1 = bounds
    return CRS.from_proj4(
        f"+proj=laea +lat_0={(y0 + y1) / 2:.8f} +lon_0={(x0 + x1) / 2:.8f} "
        "+datum=WGS84 +units=m +no_defs"
    )


def overlaps_and_gaps(
    proj: np.ndarray, ids: list[str], areas: np.ndarray
) -> tuple[list[tuple[str, str, float]], int, float]:
    """Overlapping zone pairs and holes in the union of a layer.

    Parameters
    ----------
    proj : numpy.ndarray of object
        The zone polygons in an equal-area projection (metres), in zone order.
    ids : list of str
        The zone ids.
    areas : numpy.ndarray of float
        The zone areas in square metres.

    Returns
    -------
    (list of (str, str, float), int, float)
        Pairs ``(a, b, km2)`` intersecting by more than :data:`OVERLAP_MIN_FRACTION` of the
        smaller zone, ``a`` first in zone order; the number of holes of at least
        :data:`GAP_MIN_M2`; and their total area in km2.
    """
    import shapely

    tree = shapely.STRtree(proj)
    a, b = tree.query(proj, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    overlaps = []
    if len(a):
        try:
            inter = shapely.area(shapely.intersection(proj[a], proj[b]))
        except shapely.errors.GEOSException:  # pragma: no cover - robustness fallback
            inter = shapely.area(shapely.intersection(proj[a], proj[b], grid_size=1e-3))
        smaller = np.minimum(areas[a], areas[b])
        for i, j, m2, lim in zip(a, b, inter, smaller * OVERLAP_MIN_FRACTION, strict=True):
            if m2 > lim:
                overlaps.append((ids[i], ids[j], float(m2) / 1e6))
    union = shapely.union_all(proj)
    rings = [
        r
        for poly in shapely.get_parts(union)
        if poly.geom_type == "Polygon"
        for r in poly.interiors
    ]
    holes = shapely.area(shapely.polygons(rings)) if rings else np.zeros(0)
    holes = holes[holes >= GAP_MIN_M2]
    return overlaps, len(holes), float(holes.sum() / 1e6)


def measure_layer(
    geoms: np.ndarray, ids: list[str]
) -> tuple[np.ndarray, list[tuple[str, str, float]], int, float]:
    """Areas, overlaps and gaps of a layer, in an equal-area projection centred on it.

    Parameters
    ----------
    geoms : numpy.ndarray of object
        The zone polygons in EPSG:4326, in zone order.
    ids : list of str
        The zone ids.

    Returns
    -------
    (numpy.ndarray, list, int, float)
        The area of each zone in square metres, then what :func:`overlaps_and_gaps`
        returns.
    """
    import geopandas as gpd
    import shapely

    ea = equal_area_crs(shapely.total_bounds(geoms))
    proj = np.asarray(gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(ea).values, dtype=object)
    areas = shapely.area(proj)
    return (areas, *overlaps_and_gaps(proj, ids, areas))
