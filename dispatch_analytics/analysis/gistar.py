"""Getis-Ord Gi* on H3 cells: the study area's cells, their spatial weights, the statistic with
permutation inference (PySAL ``esda.G_Local``, ``star=True``) and the Benjamini-Hochberg
false-discovery-rate correction. The building blocks of :mod:`.hotspots` and :mod:`.emerging`.

Weights: binary contiguity of H3 cells. Two cells of the study area are neighbours when one is
within ``k`` grid rings of the other (``h3.grid_disk(cell, k)`` minus the cell itself; ``k = 1``:
the six cells sharing an edge). Gi* adds each cell to its own neighbourhood (``star=True``);
the weights are binary (``transform='B'``), as in Getis and Ord (1992, 1995) and ESRI's
fixed-distance Gi*. A cell with no neighbour in the study area keeps only itself.

p-values are two-sided: ``p = min(1, 2 * p_sim)``, where ``p_sim`` is esda's folded one-sided
permutation pseudo p-value (conditional randomisation, ``seed``-ed); with ``permutations=0``
the normal approximation (``2 * p_norm``) is used instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import AnalysisError

__all__ = [
    "CLASSES",
    "h3_weights",
    "study_cells",
    "GiStar",
    "gi_star",
    "fdr_bh",
    "classify",
    "cell_centres",
]

#: Cell classes, in legend order.
CLASSES = ("hot", "cold", "not significant", "too few")

#: Most cells a study area may hold (Gi* permutations run per cell; a hull over incidents of
#: two cities far apart would hold millions).
MAX_CELLS = 20_000


def h3_weights(cells: Sequence[str], k: int = 1):
    """Binary contiguity weights (``libpysal.weights.W``) of H3 cells, ids in ``cells`` order:
    the neighbours of a cell are the other cells of ``cells`` within ``k`` grid rings."""
    import h3
    from libpysal.weights import W

    if k < 1:
        raise AnalysisError(f"`k` (neighbour rings) must be at least 1, got {k}")
    cells = list(cells)
    inside = set(cells)
    neighbours = {c: sorted(n for n in h3.grid_disk(c, k) if n != c and n in inside) for c in cells}
    return W(neighbours, id_order=cells, silence_warnings=True)


def study_cells(
    lat: np.ndarray,
    lon: np.ndarray,
    resolution: int,
    area=None,
    max_cells: int = MAX_CELLS,
) -> list[str]:
    """The H3 cells of the study area, sorted: every cell whose centre lies in ``area`` (a
    shapely polygon in lon/lat; default the convex hull of the points), plus every cell that
    holds a point (a hull's edge cells can have their centre outside it).

    Raises
    ------
    AnalysisError
        The area would hold more than ``max_cells`` cells (estimated from its geodesic area).
    """
    import h3
    import shapely

    from ..spatial.h3cells import _h3_cells

    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    own = {c for c in _h3_cells(lat, lon, resolution).to_list() if c is not None}
    if area is None and len(lat) >= 3:
        area = shapely.MultiPoint(np.column_stack([lon, lat])).convex_hull
    cells = set(own)
    if area is not None and area.geom_type in ("Polygon", "MultiPolygon") and not area.is_empty:
        from pyproj import Geod

        km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(area)[0]) / 1e6
        estimate = km2 / h3.average_hexagon_area(resolution, "km^2")
        if estimate > max_cells:
            raise AnalysisError(
                f"the study area ({km2:,.0f} km2) would hold about {estimate:,.0f} H3 cells at "
                f"resolution {resolution}, more than {max_cells:,}: give `study_area` (a zone "
                "layer; e.g. when the store holds several cities), a coarser `resolution`, or "
                "fewer incidents"
            )
        cells |= set(h3.geo_to_cells(area, resolution))
    return sorted(cells)


def cell_centres(cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(latitude, longitude) of each cell's centre."""
    import h3

    pts = [h3.cell_to_latlng(c) for c in cells]
    if not pts:
        return np.array([]), np.array([])
    a = np.asarray(pts, dtype=float)
    return a[:, 0], a[:, 1]


@dataclass
class GiStar:
    """Gi* of one variable over a set of cells: ``z`` (esda ``Zs``), ``p`` (two-sided),
    ``p_sim`` (esda's one-sided pseudo p-value; None without permutations)."""

    z: np.ndarray
    p: np.ndarray
    p_sim: np.ndarray | None


def gi_star(
    y: np.ndarray,
    cells: Sequence[str],
    k: int = 1,
    permutations: int = 999,
    seed: int | None = 0,
    w=None,
) -> GiStar:
    """Gi* (``esda.G_Local(y, w, transform='B', star=True)``) with two-sided p-values.

    A variable that is constant (e.g. a period without calls) has no hot or cold cell: z = 0
    and p = 1 everywhere, where esda would divide by zero.
    """
    from esda.getisord import G_Local

    y = np.asarray(y, dtype=float)
    n = len(y)
    if n == 0:
        return GiStar(np.array([]), np.array([]), None)
    if n < 2 or np.nanstd(y) == 0 or y.sum() == 0:
        return GiStar(np.zeros(n), np.ones(n), None if not permutations else np.ones(n))
    if w is None:
        w = h3_weights(cells, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands; numba missing
        g = G_Local(
            y,
            w,
            transform="B",
            star=True,
            permutations=permutations,
            seed=seed,
            n_jobs=1,
            keep_simulations=False,
        )
    z = np.asarray(g.Zs, dtype=float)
    if permutations:
        # esda returns p_sim = (k + 1) / (permutations + 1) as float32: restore the exact ratio
        m = permutations + 1
        p_sim = np.round(np.asarray(g.p_sim, dtype=float) * m) / m
        p = np.minimum(1.0, 2 * p_sim)
    else:
        p_sim = None
        p = np.minimum(1.0, 2 * np.asarray(g.p_norm, dtype=float))
    bad = ~np.isfinite(z)
    z[bad], p[bad] = 0.0, 1.0
    return GiStar(z, p, p_sim)


def fdr_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return p
    return np.asarray(false_discovery_control(p, method="bh"), dtype=float)


def classify(z: np.ndarray, p_used: np.ndarray, alpha: float) -> np.ndarray:
    """``hot`` (p <= alpha, z > 0), ``cold`` (p <= alpha, z < 0), else ``not significant``."""
    z = np.asarray(z, dtype=float)
    sig = np.asarray(p_used, dtype=float) <= alpha
    out = np.full(len(z), "not significant", dtype=object)
    out[sig & (z > 0)] = "hot"
    out[sig & (z < 0)] = "cold"
    return out
