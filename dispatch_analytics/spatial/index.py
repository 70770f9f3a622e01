"""Point in zone: the position (or id) of the zone each point falls in, vectorised.

Zones are *closed* sets (a point on a zone's edge is in the zone). A point in several zones
(on a shared edge, or where zones overlap) goes to the first of them in zone order, i.e. the
order of the features in the source file, which is kept on disk.

Small inputs scan the zones in order with a bounding-box prefilter (:func:`_assign_direct`);
large ones label a regular grid over the layer once (:class:`_GridIndex`) and test exactly
only the points of cells that straddle a zone edge. shapely is imported inside functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ZoneError
from .validate import field_problem

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["assign_point_index", "assign_points", "zone_geoms_4326"]

# assign_point_index: below this many point-zone tests the per-zone bbox scan is used,
# above it a grid index (see _GridIndex)
_DIRECT_MAX_WORK = 4_000_000
_CHUNK = 1 << 20


class _GridIndex:
    """A regular grid over the zones' bounds, each cell labelled once.

    A cell whose (slightly enlarged) box touches no zone is *empty*; one touching exactly one
    zone that contains the whole box is *pure* (its points all belong to that zone); any
    other cell is *mixed* and its points are tested exactly against the zones touching it
    (a CSR list per cell). Points outside the grid are in no zone.
    """

    def __init__(self, geoms: np.ndarray, usable: np.ndarray, n_cells: int):
        import shapely

        self.geoms = geoms
        order = np.flatnonzero(usable)
        x0, y0, x1, y1 = shapely.total_bounds(geoms[order])
        # a few hundred ulps of the coordinates: far above the rounding of the cell index
        ulp = 256 * float(np.spacing(max(abs(x0), abs(x1), abs(y0), abs(y1), 1.0)))
        pad = max(1e-9 * max(x1 - x0, y1 - y0), ulp)
        x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
        w, h = x1 - x0, y1 - y0
        gx = int(min(max(1, round(math.sqrt(n_cells * w / h))), n_cells))
        gy = int(max(1, round(n_cells / gx)))
        self.x0, self.y0, self.gx, self.gy = x0, y0, gx, gy
        self.dx, self.dy = w / gx, h / gy
        self.ncell = gx * gy
        ix, iy = np.divmod(np.arange(self.ncell), gy)
        ex, ey = max(1e-6 * self.dx, ulp), max(1e-6 * self.dy, ulp)
        boxes = shapely.box(
            x0 + ix * self.dx - ex,
            y0 + iy * self.dy - ey,
            x0 + (ix + 1) * self.dx + ex,
            y0 + (iy + 1) * self.dy + ey,
        )
        tree = shapely.STRtree(boxes)
        zi, ci = tree.query(geoms[order], predicate="intersects")
        zi = order[zi]
        cnt = np.bincount(ci, minlength=self.ncell)
        zc, cc = tree.query(geoms[order], predicate="contains")
        zc = order[zc]
        label = np.full(self.ncell + 1, -1, np.int32)  # last slot: outside the grid
        label[: self.ncell][cnt > 0] = -2
        pure = cnt[cc] == 1
        label[cc[pure]] = zc[pure]
        self.label = label
        srt = np.lexsort((zi, ci))
        self.cand = zi[srt].astype(np.int32)
        self.ptr = np.zeros(self.ncell + 1, np.int64)
        np.cumsum(cnt, out=self.ptr[1:])

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The cell of each point (``ncell``: outside the grid or NaN)."""
        fx = (x - self.x0) / self.dx
        fy = (y - self.y0) / self.dy
        inside = (fx >= 0) & (fx < self.gx) & (fy >= 0) & (fy < self.gy)  # NaN: False
        out = ~inside
        np.copyto(fx, 0.0, where=out)
        np.copyto(fy, 0.0, where=out)
        cell = fx.astype(np.int64)
        cell *= self.gy
        cell += fy.astype(np.int64)
        np.copyto(cell, self.ncell, where=out)
        return cell

    def assign(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The zone position of each point, or -1."""
        cell = self.cells(x, y)
        lab = self.label[cell]
        mixed = np.flatnonzero(lab == -2)
        if mixed.size:
            lab[mixed] = self._resolve(x[mixed], y[mixed], cell[mixed])
        return lab

    def _resolve(self, x: np.ndarray, y: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Exact tests of points in mixed cells against the cells' candidate zones."""
        import shapely

        start = self.ptr[cell]
        counts = self.ptr[cell + 1] - start
        total = int(counts.sum())
        point = np.repeat(np.arange(len(cell)), counts)
        first = np.cumsum(counts) - counts
        pos = np.repeat(start - first, counts) + np.arange(total)
        zone = self.cand[pos]
        srt = np.argsort(zone, kind="stable")
        zs = zone[srt]
        cuts = np.flatnonzero(zs[1:] != zs[:-1]) + 1
        hit = np.zeros(total, bool)
        for seg in np.split(srt, cuts):
            p = point[seg]
            hit[seg] = shapely.intersects_xy(self.geoms[zone[seg[0]]], x[p], y[p])
        res = np.full(len(cell), np.iinfo(np.int32).max, np.int32)
        np.minimum.at(res, point[hit], zone[hit])
        res[res == np.iinfo(np.int32).max] = -1
        return res


def _assign_direct(x, y, geoms, usable) -> np.ndarray:
    """Zone positions by scanning the usable zones in order (bbox prefilter, exact test)."""
    import shapely

    out = np.full(len(x), -1, np.int32)
    bounds = shapely.bounds(geoms)
    for i in np.flatnonzero(usable):
        bx0, by0, bx1, by1 = bounds[i]
        c = np.flatnonzero((out < 0) & (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1))
        if c.size:
            out[c[shapely.intersects_xy(geoms[i], x[c], y[c])]] = i
    return out


def assign_point_index(lon, lat, geoms) -> np.ndarray:
    """The position of the zone each point falls in, or -1 (vectorised point in polygon).

    Parameters
    ----------
    lon, lat : array-like of float
        Point coordinates, in the CRS of ``geoms``. NaN gives -1.
    geoms : array-like of shapely geometries
        Polygons in zone order (None / empty ones never match).

    Returns
    -------
    numpy.ndarray of int32
        Same shape as ``lon``. Zones are closed: a point on an edge is in the zone; a point
        in several zones (shared edge, overlap) gets the first in zone order.

    Notes
    -----
    No shapely Point objects are built. Small inputs scan the zones in order with a bbox
    prefilter and ``shapely.intersects_xy`` on prepared polygons; large ones first label a
    regular grid over the layer (empty / inside one zone / mixed) and test exactly only
    the points of mixed cells.
    """
    import shapely

    x = np.ascontiguousarray(lon, dtype=np.float64)
    y = np.ascontiguousarray(lat, dtype=np.float64)
    if x.shape != y.shape:
        raise ZoneError(f"`lon` and `lat` differ in shape: {x.shape} vs {y.shape}")
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    geoms = np.asarray(geoms, dtype=object).ravel()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if x.size == 0 or not usable.any():
        return np.full(shape, -1, np.int32)
    shapely.prepare(geoms[usable])
    nz = int(usable.sum())
    if x.size * nz <= _DIRECT_MAX_WORK:
        return _assign_direct(x, y, geoms, usable).reshape(shape)
    n_cells = int(min(max(x.size // 40, 16 * nz, 1024), 1 << 18))
    grid = _GridIndex(geoms, usable, n_cells)
    out = np.empty(x.size, np.int32)
    for s in range(0, x.size, _CHUNK):
        out[s : s + _CHUNK] = grid.assign(x[s : s + _CHUNK], y[s : s + _CHUNK])
    return out.reshape(shape)


def zone_geoms_4326(zones_gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The zone geometries in EPSG:4326 (reprojected if the frame has another CRS).

    Parameters
    ----------
    zones_gdf : geopandas.GeoDataFrame
        The zones, in zone order (a frame without CRS is taken as EPSG:4326).

    Returns
    -------
    numpy.ndarray of object
        The shapely geometries, in zone order.
    """
    crs = zones_gdf.crs
    if crs is not None and crs.to_epsg() != 4326 and crs.to_authority() != ("OGC", "CRS84"):
        zones_gdf = zones_gdf.to_crs("EPSG:4326")
    return np.asarray(zones_gdf.geometry.values, dtype=object)


def assign_points(lon, lat, zones_gdf: gpd.GeoDataFrame, id_col: str = "zone_id") -> np.ndarray:
    """The id of the zone each point falls in (vectorised point in polygon).

    Parameters
    ----------
    lon, lat : array-like of float
        WGS84 longitude and latitude of the points (NaN: no zone).
    zones_gdf : geopandas.GeoDataFrame
        The zones, in zone order (reprojected to EPSG:4326 if it has another CRS).
    id_col : str
        The column holding zone ids.

    Returns
    -------
    numpy.ndarray of object
        The zone id of each point, or None for points in no zone and NaN coordinates.

    Notes
    -----
    Zones are closed sets: a point exactly on a zone's edge is in it. A point in several
    zones -- on an edge shared by two zones, or where zones overlap -- is assigned to the
    first of them in zone order (the row order of ``zones_gdf``), so the result is
    deterministic. 10 million points against the 41 SF neighbourhoods take about 1 s.

    Examples
    --------
    >>> ids = assign_points(df["longitude"], df["latitude"], read_layer(root, "nhoods"))  # doctest: +SKIP
    """
    if id_col not in zones_gdf.columns:
        columns = [str(c) for c in zones_gdf.columns]
        # field_problem gives None when id_col is the text of a non-text column name
        raise ZoneError(
            field_problem("id_col", id_col, columns, "the zones frame")
            or f"`id_col` {id_col!r} is not a column of the zones frame; its columns: "
            f"{list(zones_gdf.columns)!r}"
        )
    import pandas as pd

    idx = assign_point_index(lon, lat, zone_geoms_4326(zones_gdf))
    ids = np.empty(len(zones_gdf) + 1, dtype=object)
    ids[:-1] = [None if pd.isna(v) else v for v in zones_gdf[id_col].tolist()]
    ids[-1] = None
    return ids[idx]
