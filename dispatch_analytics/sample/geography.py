"""The sample city's geography: boundary, demand hotspots, stations, areas, battalions.

Everything is built in a local azimuthal-equidistant projection in metres
(:data:`_LOCAL_CRS`, centred on :data:`~.constants.CENTER_LONLAT`) and converted to
longitude / latitude only when written (:func:`_geoms_to_lonlat`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from ..errors import SampleError
from .constants import _N_BATTALIONS, _N_STATIONS, _UNIT_TYPES, CENTER_LONLAT

__all__ = [
    "_LOCAL_CRS",
    "_Geography",
    "_build_geography",
    "_to_lonlat",
    "_geoms_to_lonlat",
    "_unit_label",
]

_LOCAL_CRS = (
    f"+proj=aeqd +lat_0={CENTER_LONLAT[1]} +lon_0={CENTER_LONLAT[0]} "
    "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
_HOODS = (
    "Downtown",
    "Riverside",
    "Hillcrest",
    "Oak Park",
    "Mill Creek",
    "Cedar Ridge",
    "Lakeview",
    "Pecan Grove",
    "Stonegate",
    "Willow Bend",
    "Brookhaven",
    "Maple Heights",
)


@dataclass(frozen=True)
class _Geography:
    boundary: shapely.Polygon  # local metres
    station_xy: np.ndarray  # (S, 2) local metres
    station_ids: tuple[str, ...]
    station_names: tuple[str, ...]
    battalion: np.ndarray  # (S,) 0-based battalion of each station
    areas: np.ndarray  # (S,) first-due areas, local metres
    battalions: np.ndarray  # (B,) battalion polygons, local metres
    has_unit: np.ndarray  # (4, S) bool: engine, medic, truck, chief housed at station
    chief_station: np.ndarray  # (B,) station index housing each battalion chief
    hotspots: np.ndarray  # (H, 3) x, y, sigma in metres
    mix: np.ndarray  # (H + 1,) weights: uniform background, then hotspots


def _uniform_in(poly, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform points inside ``poly`` (rejection sampling), shape (n, 2)."""
    minx, miny, maxx, maxy = poly.bounds
    out, got = [], 0
    while got < n:
        m = int((n - got) * 1.8) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly, x, y)
        out.append(np.column_stack([x[ok], y[ok]]))
        got += int(ok.sum())
    return np.concatenate(out)[:n]


def _build_geography(rng: np.random.Generator) -> _Geography:
    """City boundary, stations, station areas, battalions and demand hotspots."""
    boundary = _boundary(rng)
    downtown, hotspots, mix = _hotspots(boundary, rng)
    P = _stations(boundary, downtown, rng)
    areas = _station_areas(P, boundary)
    groups, polys, battalion = _battalions(areas)
    has, chief = _units(P, groups, polys, rng)
    ids = tuple(f"S{i + 1:02d}" for i in range(_N_STATIONS))
    names = tuple(f"Station {i + 1} - {_HOODS[i]}" for i in range(_N_STATIONS))
    return _Geography(
        boundary=boundary,
        station_xy=P,
        station_ids=ids,
        station_names=names,
        battalion=battalion,
        areas=areas,
        battalions=np.array(polys, dtype=object),
        has_unit=has,
        chief_station=chief,
        hotspots=hotspots,
        mix=mix,
    )


def _boundary(rng: np.random.Generator) -> shapely.Polygon:
    """Irregular boundary: a 20 km x 15 km ellipse with random low-frequency wobble."""
    theta = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    a, b = 10_000.0, 7_500.0
    r = a * b / np.hypot(b * np.cos(theta), a * np.sin(theta))
    k = np.arange(2, 6)
    amp = rng.uniform(0.02, 0.06, k.size)
    phase = rng.uniform(0.0, 2 * np.pi, k.size)
    wobble = (amp[:, None] * np.cos(k[:, None] * theta[None, :] + phase[:, None])).sum(0)
    r = r * (1.0 + wobble + rng.normal(0.0, 0.01, theta.size))
    return shapely.Polygon(np.round(np.column_stack([r * np.cos(theta), r * np.sin(theta)]), 2))


def _hotspots(boundary: shapely.Polygon, rng: np.random.Generator):
    """Demand: downtown plus three secondary hotspots, over a uniform background.

    Returns the downtown point, the hotspots ``(H, 3)`` (x, y, sigma) and the mixture
    weights ``(H + 1,)`` (uniform background first).
    """
    downtown = np.array([rng.uniform(-700, 700), rng.uniform(-500, 500)])
    inner = boundary.buffer(-2500)
    spots = [(downtown[0], downtown[1], 1100.0)]
    while len(spots) < 4:
        p = _uniform_in(inner, 1, rng)[0]
        if min(np.hypot(p[0] - s[0], p[1] - s[1]) for s in spots) > 3500:
            spots.append((p[0], p[1], rng.uniform(700, 1500)))
    hotspots = np.array(spots)
    w_spots = np.concatenate([[0.22], rng.uniform(0.07, 0.11, 3)])
    mix = np.concatenate([[1.0 - w_spots.sum()], w_spots])
    return downtown, hotspots, mix


def _stations(boundary: shapely.Polygon, downtown, rng: np.random.Generator) -> np.ndarray:
    """Stations: S01 downtown, 11 more spread out (best-candidate sampling), (S, 2)."""
    pts = [downtown + rng.normal(0.0, 150.0, 2)]
    shrunk = boundary.buffer(-1200)
    for _ in range(_N_STATIONS - 1):
        cand = _uniform_in(shrunk, 48, rng)
        P = np.array(pts)
        d = np.hypot(cand[:, None, 0] - P[None, :, 0], cand[:, None, 1] - P[None, :, 1]).min(1)
        pts.append(cand[int(np.argmax(d))])
    P = np.round(np.array(pts), 1)
    rest = P[1:] - P[0]
    by_angle = np.argsort(np.degrees(np.arctan2(rest[:, 0], rest[:, 1])) % 360.0, kind="stable")
    return np.vstack([P[:1], P[1:][by_angle]])  # S02.. numbered clockwise from north


def _station_areas(P: np.ndarray, boundary: shapely.Polygon) -> np.ndarray:
    """First-due areas: the stations' Voronoi cells clipped to the boundary."""
    vor = shapely.voronoi_polygons(
        shapely.MultiPoint(P), extend_to=boundary.buffer(20_000), ordered=True
    )
    areas = shapely.intersection(np.asarray(shapely.get_parts(vor)), boundary)
    if not all(shapely.contains_xy(areas, P[:, 0], P[:, 1])):  # pragma: no cover - safety net
        raise SampleError("internal error: a station lies outside its own area")
    return areas


def _battalions(areas: np.ndarray):
    """Station groups, battalion polygons and the 0-based battalion of each station.

    S01 plus three angular neighbours, then two groups of four; the rotation of the
    angular order is the first that makes every battalion one connected polygon.
    """
    outer = np.arange(1, _N_STATIONS)
    choice = None
    for rot in range(outer.size):
        ring = np.roll(outer, -rot)
        groups = [np.concatenate([[0], ring[:3]]), ring[3:7], ring[7:]]
        polys = [shapely.union_all(areas[g]) for g in groups]
        if choice is None:
            choice = (groups, polys)
        if all(p.geom_type == "Polygon" for p in polys):
            choice = (groups, polys)
            break
    assert choice is not None  # outer is not empty, so the loop ran
    groups, polys = choice
    battalion = np.zeros(_N_STATIONS, dtype=np.int64)
    for bi, g in enumerate(groups):
        battalion[g] = bi
    return groups, polys, battalion


def _units(P: np.ndarray, groups, polys, rng: np.random.Generator):
    """Which unit types each station houses ``(4, S)`` and each battalion chief's station.

    An engine everywhere; a truck downtown and at the most central station of each
    battalion; chiefs at S01 (B1) and at the truck stations of B2 / B3; medics at 9 of 12.
    """
    has = np.zeros((4, _N_STATIONS), dtype=bool)
    has[0] = True
    chief = np.zeros(_N_BATTALIONS, dtype=np.int64)
    has[2, 0] = True
    for bi, g in enumerate(groups):
        c = shapely.centroid(polys[bi])
        cand = g[g != 0]
        central = int(cand[np.argmin(np.hypot(P[cand, 0] - c.x, P[cand, 1] - c.y))])
        has[2, central] = True
        chief[bi] = 0 if bi == 0 else central
    has[3, chief] = True
    no_medic = rng.choice(np.nonzero(~has[2])[0], 3, replace=False)
    has[1] = True
    has[1, no_medic] = False
    return has, chief


def _to_lonlat():
    return pyproj.Transformer.from_crs(_LOCAL_CRS, "EPSG:4326", always_xy=True)


def _geoms_to_lonlat(geoms):
    tr = _to_lonlat()

    def fn(xy):
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, fn)


def _unit_label(kind: int, station: int, geo: _Geography) -> str:
    if kind == 3:
        return f"B{int(geo.battalion[station]) + 1}"
    return f"{_UNIT_TYPES[kind]}{station + 1:02d}"
