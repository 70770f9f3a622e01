"""A realistic synthetic city for demos and tests.

:func:`generate_city` writes a complete, self-consistent sample data set into a directory:

* a unit-grain CAD export (``sample_city.csv``) with its own CAD-style column names and
  local ``America/Chicago`` wall-clock times,
* the mapping TOML that ingests it (``sample_city.toml``),
* station points, first-due station areas and battalion polygons (GeoJSON, EPSG:4326),
* a ``README.md`` that describes the files and the deliberately planted dirty rows.

The city sits at a plausible real location (centred near Austin, Texas) but every station,
unit and incident is invented. Everything is drawn from ``numpy.random.default_rng(seed)``,
so one seed always produces byte-identical files.

Times are generated as true UTC instants and converted to local wall-clock readings with
:mod:`zoneinfo`, so the daylight-saving nights are genuinely right: during the fall-back
repeated hour local readings repeat (and can run backwards within a row), during the
spring-forward night no ``02:xx`` reading exists. A few incidents are planted in the
01:00-03:00 local window of each DST night; they are clean rows.

About 2 % of the rows are planted dirty rows, each with exactly one problem that an ingest
must reject; :attr:`SampleCity.planted` counts them per reject reason (see
:data:`PLANTED_REASONS`).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyproj
import shapely

from ..errors import SampleError

__all__ = [
    "mapping_toml",
    "TIMEZONE",
    "TIMESTAMP_FORMAT",
    "CENTER_LONLAT",
    "CSV_COLUMNS",
    "CallType",
    "CALL_TYPES",
    "EMS_TYPES",
    "FIRE_TYPES",
    "OTHER_TYPES",
    "PLANTED_REASONS",
    "PLANTED_SHARE",
    "MAX_INCIDENTS",
    "SampleError",
    "SampleCity",
    "generate_city",
]

#: IANA zone of the sample city; CSV times are local wall-clock readings in this zone.
TIMEZONE = "America/Chicago"
#: strftime format of every time column in the CSV (zero-padded).
TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"
#: (longitude, latitude) of the city centre (downtown Austin, TX).
CENTER_LONLAT = (-97.74, 30.27)
#: Columns of the CAD export, in file order.
CSV_COLUMNS = (
    "INC_NO",
    "UNIT",
    "UNIT_TYPE",
    "STATION",
    "NATURE",
    "PRI",
    "T_RCVD",
    "T_DISP",
    "T_ENRT",
    "T_ARRV",
    "T_TRANS",
    "T_HOSP",
    "T_CLR",
    "LAT",
    "LON",
)
#: Target share of planted dirty rows (all reasons together) among the data rows.
PLANTED_SHARE = 0.02
#: Largest accepted ``n_incidents`` (about 1.9 rows per incident are written).
MAX_INCIDENTS = 2_000_000
#: Reject reasons of the planted dirty rows, in the order of ``SampleCity.planted``.
PLANTED_REASONS = (
    "unparseable_time",
    "missing_id",
    "stage_order",
    "interval_too_long",
    "missing_coordinates",
    "zero_coordinates",
    "coordinates_out_of_range",
    "duplicate_row",
    "nonexistent_local_time",
)

_MAX_INTERVAL_S = 21600
_MAX_DAYS = 3660
_LOCAL_CRS = (
    f"+proj=aeqd +lat_0={CENTER_LONLAT[1]} +lon_0={CENTER_LONLAT[0]} "
    "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
_TIME_COLUMNS = ("T_RCVD", "T_DISP", "T_ENRT", "T_ARRV", "T_TRANS", "T_HOSP", "T_CLR")
_CATEGORY_NAMES = ("ems", "fire", "other")
_UNIT_TYPES = ("E", "M", "T", "B")  # engine, medic, truck, battalion chief
_UNIT_TYPE_LABELS = ("ENGINE", "MEDIC", "TRUCK", "CHIEF")
_N_STATIONS = 12
_N_BATTALIONS = 3
_BUSY_P = 0.15
_GARBAGE_TIMES = (
    "13/45/{y} 25:61:00",
    "N/A?",
    "00/00/0000 00:00:00",
    "{m}/31/{y} 24:00:99",
    "#VALUE!",
    "99/99/9999 99:99:99",
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
class CallType:
    """One call type (``NATURE``) of the sample city and how it is answered."""

    name: str
    category: int  # index into _CATEGORY_NAMES
    share: float
    priority_p: tuple[float, float, float]
    on_scene_min: float  # median on-scene minutes of the first unit
    slots: tuple[tuple[str, float | str], ...]  # (unit type, probability or "p1")


_CT = CallType
_EMS_SLOTS = (("M", 1.0), ("E", "p1"))
#: Call types with category, share of calls, priority mix, median on-scene time and the
#: units sent (one slot per unit; ``"p1"`` = only for priority 1 calls).
CALL_TYPES: tuple[CallType, ...] = (
    _CT("Medical Emergency", 0, 0.28, (0.25, 0.50, 0.25), 18, _EMS_SLOTS),
    _CT("Fall", 0, 0.10, (0.05, 0.55, 0.40), 18, _EMS_SLOTS),
    _CT("Breathing Problem", 0, 0.09, (0.65, 0.30, 0.05), 20, _EMS_SLOTS),
    _CT("Chest Pain", 0, 0.07, (0.70, 0.25, 0.05), 20, _EMS_SLOTS),
    _CT("Unconscious Person", 0, 0.04, (0.75, 0.20, 0.05), 18, _EMS_SLOTS),
    _CT("Overdose", 0, 0.03, (0.55, 0.40, 0.05), 16, _EMS_SLOTS),
    _CT("Stroke", 0, 0.02, (0.80, 0.20, 0.0), 16, _EMS_SLOTS),
    _CT("Cardiac Arrest", 0, 0.02, (1.0, 0.0, 0.0), 30, (("M", 1.0), ("E", 1.0), ("M", 0.5))),
    _CT("Alarm Activation", 1, 0.10, (0.0, 0.40, 0.60), 12, (("E", 1.0), ("T", 1.0))),
    _CT(
        "Structure Fire",
        1,
        0.03,
        (1.0, 0.0, 0.0),
        75,
        (("E", 1.0), ("E", 1.0), ("T", 1.0), ("B", 1.0)),
    ),
    _CT("Vehicle Fire", 1, 0.025, (0.30, 0.70, 0.0), 25, (("E", 1.0), ("M", 1.0))),
    _CT("Brush Fire", 1, 0.02, (0.40, 0.60, 0.0), 45, (("E", 1.0), ("E", 1.0), ("B", 0.3))),
    _CT("Outside Fire", 1, 0.015, (0.10, 0.60, 0.30), 20, (("E", 1.0), ("E", 1.0))),
    _CT("Smoke Investigation", 1, 0.01, (0.20, 0.60, 0.20), 15, (("E", 1.0), ("T", 1.0))),
    _CT(
        "Traffic Collision", 2, 0.08, (0.30, 0.60, 0.10), 25, (("E", 1.0), ("M", 1.0), ("M", 0.15))
    ),
    _CT("Public Assist", 2, 0.035, (0.0, 0.20, 0.80), 15, (("E", 1.0),)),
    _CT("Gas Leak", 2, 0.015, (0.30, 0.60, 0.10), 30, (("E", 1.0), ("T", 1.0))),
    _CT("Hazmat", 2, 0.01, (0.50, 0.50, 0.0), 60, (("E", 1.0), ("T", 1.0), ("B", 1.0))),
    _CT("Rescue", 2, 0.01, (0.60, 0.40, 0.0), 40, (("E", 1.0), ("T", 1.0), ("M", 1.0))),
)
#: Call types (NATURE values) per category.
EMS_TYPES = tuple(c.name for c in CALL_TYPES if c.category == 0)
FIRE_TYPES = tuple(c.name for c in CALL_TYPES if c.category == 1)
OTHER_TYPES = tuple(c.name for c in CALL_TYPES if c.category == 2)
_TYPE_INDEX = {c.name: i for i, c in enumerate(CALL_TYPES)}


@dataclass
class SampleCity:
    """The files written by :func:`generate_city` and what is in them.

    Attributes
    ----------
    out_dir : Path
        Directory holding every file below.
    incidents_csv : Path
        Unit-grain CAD export (``sample_city.csv``), columns :data:`CSV_COLUMNS`.
    mapping_toml : Path
        Mapping TOML that ingests ``incidents_csv`` (``sample_city.toml``).
    stations_geojson : Path
        Station points (``station_id``, ``name``, ``battalion_id``, ``units``).
    station_areas_geojson : Path
        First-due station-area polygons (``station_id``, ``name``, ``battalion_id``).
    battalions_geojson : Path
        Battalion polygons (``battalion_id``, ``name``).
    readme : Path
        ``README.md`` describing the files and the planted dirty rows.
    n_incidents : int
        Number of incidents generated (distinct incident numbers).
    n_rows : int
        Data rows written to ``incidents_csv`` (planted rows included).
    planted : dict of str to int
        Planted dirty rows per reject reason, keys :data:`PLANTED_REASONS`.
    """

    out_dir: Path
    incidents_csv: Path
    mapping_toml: Path
    stations_geojson: Path
    station_areas_geojson: Path
    battalions_geojson: Path
    readme: Path
    n_incidents: int
    n_rows: int
    planted: dict[str, int] = field(default_factory=dict)

    @property
    def planted_share(self) -> float:
        """Share of data rows that are planted dirty rows."""
        return sum(self.planted.values()) / self.n_rows if self.n_rows else 0.0


# ====================================================================== arguments
def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SampleError(f"`{name}` must be an integer, got {value!r}")
    value = int(value)
    if value < lo:
        raise SampleError(f"`{name}` must be >= {lo}, got {value}")
    if value > hi:
        raise SampleError(f"`{name}` must be <= {hi}, got {value}")
    return value


def _parse_start(start) -> dt.date:
    if isinstance(start, dt.datetime):
        return start.date()
    if isinstance(start, dt.date):
        return start
    try:
        return dt.date.fromisoformat(str(start).strip())
    except ValueError:
        raise SampleError(f"`start` must be a date like '2024-01-01', got {start!r}") from None


def _one_year_later(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year + 1)
    except ValueError:  # 29 February
        return dt.date(d.year + 1, 3, 1)


# ====================================================================== time zone
class _ZoneTable:
    """UTC offsets of a zone between two instants, vectorised (exact transition seconds)."""

    def __init__(self, zone: zoneinfo.ZoneInfo, t_lo: int, t_hi: int):
        def offset(t: int) -> int:
            return int(dt.datetime.fromtimestamp(int(t), tz=zone).utcoffset().total_seconds())

        hours = np.arange(t_lo - t_lo % 3600, t_hi + 3600, 3600, dtype=np.int64)
        offs = np.array([offset(h) for h in hours], dtype=np.int64)
        trans, after = [], []
        for k in np.nonzero(offs[1:] != offs[:-1])[0]:
            lo, hi = int(hours[k]), int(hours[k + 1])  # offset(lo) = old, offset(hi) = new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == offs[k]:
                    lo = mid
                else:
                    hi = mid
            trans.append(hi)
            after.append(int(offs[k + 1]))
        self.transitions = np.array(trans, dtype=np.int64)
        self.offsets = np.array([int(offs[0]), *after], dtype=np.int64)

    def offset(self, t: np.ndarray) -> np.ndarray:
        """UTC offset (seconds) at each instant; NaN instants get 0."""
        t = np.asarray(t, dtype=np.float64)
        k = np.searchsorted(self.transitions, np.nan_to_num(t), side="right")
        return self.offsets[k]

    def local(self, t: np.ndarray) -> np.ndarray:
        """Local wall-clock seconds (as if UTC) of each instant; NaN stays NaN."""
        t = np.asarray(t, dtype=np.float64)
        return t + self.offset(t)


# ====================================================================== geography
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
    # Irregular boundary: a 20 km x 15 km ellipse with random low-frequency wobble.
    theta = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    a, b = 10_000.0, 7_500.0
    r = a * b / np.hypot(b * np.cos(theta), a * np.sin(theta))
    k = np.arange(2, 6)
    amp = rng.uniform(0.02, 0.06, k.size)
    phase = rng.uniform(0.0, 2 * np.pi, k.size)
    wobble = (amp[:, None] * np.cos(k[:, None] * theta[None, :] + phase[:, None])).sum(0)
    r = r * (1.0 + wobble + rng.normal(0.0, 0.01, theta.size))
    boundary = shapely.Polygon(np.round(np.column_stack([r * np.cos(theta), r * np.sin(theta)]), 2))

    # Demand: downtown plus three secondary hotspots, over a uniform background.
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

    # Stations: S01 downtown, 11 more spread out (best-candidate sampling).
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
    P = np.vstack([P[:1], P[1:][by_angle]])  # S02.. numbered clockwise from north

    vor = shapely.voronoi_polygons(
        shapely.MultiPoint(P), extend_to=boundary.buffer(20_000), ordered=True
    )
    areas = shapely.intersection(np.asarray(shapely.get_parts(vor)), boundary)
    if not all(shapely.contains_xy(areas, P[:, 0], P[:, 1])):  # pragma: no cover - safety net
        raise SampleError("internal error: a station lies outside its own area")

    # Battalions: S01 plus three angular neighbours, then two groups of four; choose the
    # rotation of the angular order that makes every battalion one connected polygon.
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
    groups, polys = choice
    battalion = np.zeros(_N_STATIONS, dtype=np.int64)
    for bi, g in enumerate(groups):
        battalion[g] = bi

    # Units: engine everywhere; a truck downtown and at the most central station of each
    # battalion; chiefs at S01 (B1) and at the truck stations of B2 / B3; medics at 9 of 12.
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


def _write_geojson(geo: _Geography, stations: Path, areas: Path, battalions: Path) -> None:
    import geopandas as gpd

    bat_ids = [f"BAT{int(b) + 1}" for b in geo.battalion]
    units = []
    for s in range(_N_STATIONS):
        units.append(",".join(_unit_label(k, s, geo) for k in range(4) if geo.has_unit[k, s]))
    pts = shapely.points(geo.station_xy)
    opts = {"driver": "GeoJSON", "COORDINATE_PRECISION": 7}
    for path in (stations, areas, battalions):
        path.unlink(missing_ok=True)
    gpd.GeoDataFrame(
        {
            "station_id": geo.station_ids,
            "name": geo.station_names,
            "battalion_id": bat_ids,
            "units": units,
        },
        geometry=_geoms_to_lonlat(pts),
        crs="EPSG:4326",
    ).to_file(stations, **opts)
    gpd.GeoDataFrame(
        {"station_id": geo.station_ids, "name": geo.station_names, "battalion_id": bat_ids},
        geometry=_geoms_to_lonlat(geo.areas),
        crs="EPSG:4326",
    ).to_file(areas, **opts)
    gpd.GeoDataFrame(
        {
            "battalion_id": [f"BAT{i + 1}" for i in range(_N_BATTALIONS)],
            "name": [f"Battalion {i + 1}" for i in range(_N_BATTALIONS)],
        },
        geometry=_geoms_to_lonlat(geo.battalions),
        crs="EPSG:4326",
    ).to_file(battalions, **opts)


# ====================================================================== incidents
def _sample_locations(n: int, geo: _Geography, cells, rng: np.random.Generator):
    """Incident locations: metres, rounded lon/lat and the containing first-due cell."""
    tr = _to_lonlat()
    xs, ys, lons, lats, cell_of = [], [], [], [], []
    got = 0
    minx, miny, maxx, maxy = geo.boundary.bounds
    while got < n:
        m = int((n - got) * 1.25) + 16
        comp = rng.choice(geo.mix.size, size=m, p=geo.mix)
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        hs = comp > 0
        h = geo.hotspots[comp[hs] - 1]
        x[hs] = h[:, 0] + rng.normal(0.0, 1.0, hs.sum()) * h[:, 2]
        y[hs] = h[:, 1] + rng.normal(0.0, 1.0, hs.sum()) * h[:, 2]
        lon, lat = tr.transform(x, y)
        lon, lat = np.round(lon, 6), np.round(lat, 6)
        cell = np.full(m, -1, dtype=np.int64)
        for s in range(len(cells) - 1, -1, -1):
            cell[shapely.contains_xy(cells[s], lon, lat)] = s
        ok = cell >= 0
        xs.append(x[ok])
        ys.append(y[ok])
        lons.append(lon[ok])
        lats.append(lat[ok])
        cell_of.append(cell[ok])
        got += int(ok.sum())
    cat = [np.concatenate(v)[:n] for v in (xs, ys, lons, lats, cell_of)]
    return tuple(cat)


def _incident_times(n: int, t_start: int, t_end: int, zt: _ZoneTable, rng) -> np.ndarray:
    """UTC instants with a local daily cycle, a mild weekday effect and mild seasonality."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bins = np.arange(t_start, t_end, 3600, dtype=np.int64)
    local = bins + zt.offset(bins)
    hour = (local // 3600) % 24
    day = local // 86400
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    daily = 1.0 + 0.45 * np.cos(2 * np.pi * (hour + 0.5 - 16.5) / 24.0)
    week = np.array([1.0, 0.97, 0.97, 0.99, 1.04, 1.08, 1.02])[weekday]
    season = 1.0 + 0.05 * np.cos(2 * np.pi * (day - 197) / 365.25)
    w = daily * week * season
    pick = rng.choice(bins.size, size=n, p=w / w.sum())
    t = bins[pick] + rng.integers(0, 3600, n)
    return np.minimum(t, t_end - 1)


def _lognormal(rng, median, sigma, size):
    return median * np.exp(rng.normal(0.0, sigma, size))


def _format_local(local: np.ndarray) -> pl.Series:
    s = pl.Series(local, dtype=pl.Float64, nan_to_null=True).cast(pl.Int64) * 1_000_000
    return s.cast(pl.Datetime("us")).dt.strftime(TIMESTAMP_FORMAT)


# ====================================================================== main entry
def generate_city(
    out_dir: str | Path,
    n_incidents: int = 5000,
    seed: int = 0,
    start: str | dt.date = "2024-01-01",
    days: int | None = None,
) -> SampleCity:
    """Write a synthetic city (CAD export, mapping, GIS layers, README) into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output directory; created if missing. Existing sample files in it are overwritten.
    n_incidents : int, default 5000
        Number of incidents (about 1.9 unit rows each). ``1 <= n_incidents <= 2,000,000``.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; one seed gives byte-identical files.
    start : str or date, default "2024-01-01"
        First local day (``YYYY-MM-DD``) of the incident period.
    days : int, optional
        Length of the period in days. Default: one year from ``start`` (366 days for
        2024-01-01), which always contains one spring-forward and one fall-back night.

    Returns
    -------
    SampleCity
        Paths of the written files, row counts and planted dirty-row counts.

    Raises
    ------
    SampleError
        (a :class:`~dispatch_analytics.errors.DispatchError` and ``ValueError``) if an
        argument is invalid or the directory cannot be written.

    Notes
    -----
    Geography, incident times and places, unit assignments and intervals are all drawn
    from one generator: call processing (median ~50 s), turnout (median ~60 s EMS, ~75 s
    fire), travel = road distance / speed from the responding unit's station, on-scene and
    hospital times. The first-due unit is busy ~15 % of the time and the next-nearest
    station's unit responds. Planted dirty rows (~2 %) are listed in the README.

    Examples
    --------
    >>> city = generate_city("demo", n_incidents=2000, seed=1)  # doctest: +SKIP
    >>> city.planted["duplicate_row"]  # doctest: +SKIP
    9
    """
    n = _check_int("incidents", n_incidents, 1, MAX_INCIDENTS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SampleError(f"`seed` must be a non-negative integer, got {seed!r}")
    start_date = _parse_start(start)
    if days is None:
        days = (_one_year_later(start_date) - start_date).days
    days = _check_int("days", days, 1, _MAX_DAYS)
    try:
        end_date = start_date + dt.timedelta(days=days)
        if end_date.year > 9000:
            raise OverflowError
    except OverflowError:
        raise SampleError(f"`start` {start_date} plus {days} days is out of range") from None

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SampleError(f"cannot create output directory {out}: {exc}") from exc
    paths = {
        "csv": out / "sample_city.csv",
        "toml": out / "sample_city.toml",
        "stations": out / "stations.geojson",
        "areas": out / "station_areas.geojson",
        "battalions": out / "battalions.geojson",
        "readme": out / "README.md",
    }

    rng = np.random.default_rng(int(seed))
    geo = _build_geography(rng)
    try:
        _write_geojson(geo, paths["stations"], paths["areas"], paths["battalions"])
        import geopandas as gpd

        cells = np.asarray(gpd.read_file(paths["areas"]).geometry.values, dtype=object)
    except OSError as exc:
        raise SampleError(f"cannot write GIS layers to {out}: {exc}") from exc

    zone = zoneinfo.ZoneInfo(TIMEZONE)
    t_start = int(dt.datetime.combine(start_date, dt.time(), tzinfo=zone).timestamp())
    t_end = int(dt.datetime.combine(end_date, dt.time(), tzinfo=zone).timestamp())
    zt = _ZoneTable(zone, t_start - 2 * 86400, t_end + 4 * 86400)

    # ---------------------------------------------------------------- incident times
    # DST nights inside the period: plant clean incidents at local 01:00-03:00, and
    # (spring-forward only) incidents whose received time reads inside the gap.
    k_dst = min(6, n // 50)
    n_gap = 2 if n >= 200 else 0
    dst_events = []  # (transition, offset before, offset after)
    planted_t, planted_kind, gap_offset = [], [], []
    for i, T in enumerate(zt.transitions):
        o1, o2 = int(zt.offsets[i]), int(zt.offsets[i + 1])
        if not (t_start <= T < t_end):
            continue
        dst_events.append((int(T), o1, o2))
        day0 = (int(T) + o1) // 86400 * 86400
        w_lo, w_hi = day0 + 3600 - o1, day0 + 3 * 3600 - o2  # local 01:00 .. 03:00
        if k_dst and t_start <= w_lo and w_hi <= t_end - 6 * 3600:
            edges = np.linspace(w_lo, w_hi - 300, k_dst + 1)
            planted_t.append(np.floor(rng.uniform(edges[:-1], edges[1:])).astype(np.int64))
            planted_kind.append(np.ones(k_dst, dtype=np.int64))
            gap_offset.append(np.zeros(k_dst, dtype=np.int64))
        if o2 > o1 and n_gap and t_start <= T and T + 6 * 3600 <= t_end:
            lo, hi = int(T), int(T) + (o2 - o1) - 15 * 60  # true time just after the jump
            planted_t.append(np.floor(rng.uniform(lo, hi, n_gap)).astype(np.int64))
            planted_kind.append(np.full(n_gap, 2, dtype=np.int64))
            gap_offset.append(np.full(n_gap, o1, dtype=np.int64))
    n_special = int(sum(len(p) for p in planted_t))
    if n_special > n // 10:  # never let planted incidents dominate a small sample
        planted_t, planted_kind, gap_offset, n_special = [], [], [], 0
    t_random = _incident_times(n - n_special, t_start, t_end, zt, rng)
    t0 = np.concatenate([t_random, *planted_t]).astype(np.int64)
    kind = np.concatenate([np.zeros(t_random.size, dtype=np.int64), *planted_kind])
    gap_off = np.concatenate([np.zeros(t_random.size, dtype=np.int64), *gap_offset])
    order = np.argsort(t0, kind="stable")
    t0, kind, gap_off = t0[order], kind[order], gap_off[order]

    # ---------------------------------------------------------------- incident attributes
    x, y, lon, lat, first_due = _sample_locations(n, geo, cells, rng)
    shares = np.array([c.share for c in CALL_TYPES])
    ctype = rng.choice(len(CALL_TYPES), size=n, p=shares / shares.sum())
    cum_p = np.cumsum(np.array([c.priority_p for c in CALL_TYPES]), axis=1)[ctype]
    u = rng.random(n)
    pri = 1 + (u >= cum_p[:, 0]).astype(np.int64) + (u >= cum_p[:, 1])
    gap_inc = kind == 2
    ctype[gap_inc] = _TYPE_INDEX["Medical Emergency"]  # priority 2: a single medic
    pri[gap_inc] = 2
    category = np.array([c.category for c in CALL_TYPES])[ctype]
    proc = np.clip(_lognormal(rng, 50.0, 0.45, n), 8.0, 900.0)

    # Distances to every station; candidate stations per unit type, nearest first
    # (the first-due station always first, the own battalion's chief always first).
    S = geo.station_xy
    dist = np.hypot(x[:, None] - S[None, :, 0], y[:, None] - S[None, :, 1])
    ar = np.arange(n)
    key = dist.copy()
    key[ar, first_due] = -1.0
    cand_orders, cand_n = [], []
    for kind_u in range(4):
        if kind_u == 3:
            stations_u = geo.chief_station
            k_u = dist[:, stations_u].copy()
            k_u[ar, geo.battalion[first_due]] = -1.0
        else:
            stations_u = np.nonzero(geo.has_unit[kind_u])[0]
            k_u = key[:, stations_u]
        cand_orders.append(stations_u[np.argsort(k_u, axis=1, kind="stable")])
        cand_n.append(stations_u.size)

    # ---------------------------------------------------------------- unit rows
    prev_pick = np.full((n, 4), -1, dtype=np.int64)
    r_inc, r_slot, r_kind, r_station, r_rank = [], [], [], [], []
    for ti, ct in enumerate(CALL_TYPES):
        sel = np.nonzero(ctype == ti)[0]
        for j, (utype, rule) in enumerate(ct.slots):
            if rule == "p1":
                idx = sel[pri[sel] == 1]
            elif rule >= 1.0:
                idx = sel
            else:
                idx = sel[rng.random(sel.size) < rule]
            ku = _UNIT_TYPES.index(utype)
            skip = rng.geometric(1.0 - _BUSY_P, idx.size) - 1
            rank = prev_pick[idx, ku] + 1
            pick = np.minimum(rank + skip, cand_n[ku] - 1)
            prev_pick[idx, ku] = pick
            r_inc.append(idx)
            r_slot.append(np.full(idx.size, j, dtype=np.int64))
            r_kind.append(np.full(idx.size, ku, dtype=np.int64))
            r_station.append(cand_orders[ku][idx, pick])
            r_rank.append(rank)
    inc = np.concatenate(r_inc)
    slot = np.concatenate(r_slot)
    ukind = np.concatenate(r_kind)
    station = np.concatenate(r_station)
    urank = np.concatenate(r_rank)
    ro = np.lexsort((slot, inc))
    inc, slot, ukind, station, urank = inc[ro], slot[ro], ukind[ro], station[ro], urank[ro]
    R = inc.size

    # ---------------------------------------------------------------- intervals
    cat_r = category[inc]
    primary = slot == 0
    rcvd = t0[inc].astype(np.float64)
    extra = np.where(primary, 0.0, rng.exponential(15.0, R))
    extra = extra + np.where(ukind == 3, rng.uniform(30.0, 150.0, R), 0.0)
    disp = rcvd + proc[inc] + extra
    hour_local = (zt.local(rcvd) // 3600) % 24
    turnout = _lognormal(rng, np.where(cat_r == 1, 75.0, 60.0), 0.35, R)
    turnout = np.clip(turnout + np.where(hour_local < 6, 20.0, 0.0), 10.0, 600.0)
    enrt = disp + turnout
    speed = rng.uniform(35.0, 50.0, R) / 3.6 * np.where(pri[inc] == 3, 0.8, 1.0)
    road = dist[inc, station] * 1.3
    travel = np.maximum((20.0 + road / speed) * _lognormal(rng, 1.0, 0.12, R), 30.0)
    arrv = enrt + travel
    med_scene = np.array([c.on_scene_min for c in CALL_TYPES])[ctype[inc]] * 60.0
    on_scene = _lognormal(rng, med_scene, 0.45, R) * np.where(primary, 1.0, 0.7)
    on_scene = np.maximum(on_scene, 60.0)
    collision = _TYPE_INDEX["Traffic Collision"]
    p_transport = np.where(cat_r == 0, 0.6, np.where(ctype[inc] == collision, 0.35, 0.0))
    transport = (ukind == 1) & (urank == 0) & (rng.random(R) < p_transport)
    trans = np.where(transport, arrv + 0.8 * on_scene, np.nan)
    hosp = trans + _lognormal(rng, 720.0, 0.35, R)
    clr = np.where(transport, hosp + _lognormal(rng, 1320.0, 0.4, R), arrv + on_scene)

    cancelled = rng.random(R) < np.where(primary, 0.02, 0.10)
    cancelled &= ~gap_inc[inc]
    before_enrt = cancelled & (rng.random(R) < 0.3)
    cancel_at = np.where(
        before_enrt,
        disp + rng.uniform(0.1, 0.9, R) * turnout,
        enrt + rng.uniform(0.15, 0.9, R) * travel,
    )
    enrt = np.where(before_enrt, np.nan, enrt)
    arrv = np.where(cancelled, np.nan, arrv)
    trans = np.where(cancelled, np.nan, trans)
    hosp = np.where(cancelled, np.nan, hosp)
    clr = np.where(cancelled, cancel_at, clr)
    times = {
        "T_RCVD": rcvd,
        "T_DISP": disp,
        "T_ENRT": enrt,
        "T_ARRV": arrv,
        "T_TRANS": trans,
        "T_HOSP": hosp,
        "T_CLR": clr,
    }
    times = {c: np.round(v) for c, v in times.items()}
    lat_r, lon_r = lat[inc].copy(), lon[inc].copy()

    # ---------------------------------------------------------------- planted rows
    planted = dict.fromkeys(PLANTED_REASONS, 0)
    per_reason = max(1, round(R * PLANTED_SHARE / 8)) if R >= 400 else 0
    near_dst = np.zeros(n, dtype=bool)
    for T, _, _ in dst_events:
        near_dst |= np.abs(t0 - T) < 86400
    pool = np.nonzero((kind[inc] == 0) & ~near_dst[inc] & ~cancelled)[0]
    per_reason = min(per_reason, pool.size // 8)
    picks = rng.permutation(pool)[: 8 * per_reason].reshape(8, per_reason)
    chosen = dict(zip(PLANTED_REASONS[:8], picks, strict=True))
    str_override: dict[str, dict[int, str | None]] = {c: {} for c in CSV_COLUMNS}

    rows = chosen["unparseable_time"]
    for k, r in enumerate(rows):
        col = ("T_RCVD", "T_DISP", "T_ENRT", "T_ARRV", "T_CLR")[k % 5]
        when = dt.datetime.fromtimestamp(int(times["T_RCVD"][r]), tz=zone)
        garbage = _GARBAGE_TIMES[(k // 5 + k) % len(_GARBAGE_TIMES)]
        str_override[col][int(r)] = garbage.format(y=when.year, m=f"{when.month:02d}")
    # Blank INC_NO only where the incident keeps another row, so every number still appears.
    rows_per_inc = np.bincount(inc, minlength=n)
    blanked: set[int] = set()
    for k, r in enumerate(chosen["missing_id"]):
        i = int(inc[r])
        if k % 2 == 0 and rows_per_inc[i] > 1 and i not in blanked:
            blanked.add(i)
            str_override["INC_NO"][int(r)] = None
        else:
            str_override["UNIT"][int(r)] = None
    rows = chosen["stage_order"]
    times["T_ENRT"][rows] = times["T_DISP"][rows] - np.round(rng.uniform(30, 240, rows.size))
    rows = chosen["interval_too_long"]
    new_arrv = times["T_ENRT"][rows] + np.round(rng.uniform(6.25, 9.0, rows.size) * 3600)
    delta = new_arrv - times["T_ARRV"][rows]
    for col in ("T_ARRV", "T_TRANS", "T_HOSP", "T_CLR"):
        times[col][rows] += delta
    rows = chosen["missing_coordinates"]
    lat_r[rows] = np.nan
    lon_r[rows] = np.nan
    rows = chosen["zero_coordinates"]
    lat_r[rows] = 0.0
    lon_r[rows] = 0.0
    rows = chosen["coordinates_out_of_range"]
    lat_r[rows[0::2]] = 123.4
    lon_r[rows[1::2]] = -200.0
    for reason in PLANTED_REASONS[:8]:
        planted[reason] = int(chosen[reason].size)

    # Local wall-clock readings; gap rows read T_RCVD with the pre-jump offset.
    local = {c: zt.local(v) for c, v in times.items()}
    gap_rows = np.nonzero(gap_off[inc] != 0)[0]
    local["T_RCVD"][gap_rows] = times["T_RCVD"][gap_rows] + gap_off[inc][gap_rows]
    planted["nonexistent_local_time"] = int(gap_rows.size)

    # ---------------------------------------------------------------- table
    local_rcvd_inc = zt.local(t0.astype(np.float64))
    year = (
        pl.Series(local_rcvd_inc * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us")).dt.year()
    ).to_numpy()
    first_of_year = np.searchsorted(year, year, side="left")
    seq = np.arange(n) - first_of_year + 1
    inc_no = (
        pl.Series(year % 100).cast(pl.String).str.zfill(2)
        + "-"
        + pl.Series(seq).cast(pl.String).str.zfill(6)
    )
    labels = [_unit_label(k, st, geo) for k in range(4) for st in range(_N_STATIONS)]

    def lookup(values, index: np.ndarray) -> pl.Series:
        return pl.Series(list(values), dtype=pl.String).gather(index)

    df = pl.DataFrame(
        {
            "INC_NO": inc_no.gather(inc),
            "UNIT": lookup(labels, ukind * _N_STATIONS + station),
            "UNIT_TYPE": lookup(_UNIT_TYPE_LABELS, ukind),
            "STATION": lookup(geo.station_ids, station),
            "NATURE": lookup((c.name for c in CALL_TYPES), ctype[inc]),
            "PRI": lookup(("1", "2", "3"), pri[inc] - 1),
            **{c: _format_local(local[c]) for c in _TIME_COLUMNS},
            "LAT": pl.Series(lat_r, dtype=pl.Float64, nan_to_null=True),
            "LON": pl.Series(lon_r, dtype=pl.Float64, nan_to_null=True),
        }
    )
    cols = []
    for c in CSV_COLUMNS:
        s = df.get_column(c)
        if str_override[c]:
            s = s.clone()
            idx = np.array(list(str_override[c].keys()), dtype=np.int64)
            s.scatter(idx, list(str_override[c].values()))
        cols.append(s)
    df = pl.DataFrame(cols)

    # Duplicates: exact copies of clean rows, a few rows after their source.
    dup_src = np.sort(chosen["duplicate_row"])
    insert_at = np.minimum(dup_src + 1 + rng.integers(0, 4, dup_src.size), R)
    final = np.insert(np.arange(R), insert_at, dup_src)
    planted["duplicate_row"] = int(dup_src.size)
    if dup_src.size:
        df = df[final]
    n_rows = df.height

    try:
        df.write_csv(paths["csv"], float_precision=6, null_value="", line_terminator="\n")
        paths["toml"].write_text(mapping_toml(), encoding="utf-8", newline="\n")
    except OSError as exc:
        raise SampleError(f"cannot write {paths['csv']}: {exc}") from exc

    # ---------------------------------------------------------------- README facts
    dst_notes = []
    clean = np.ones(R, dtype=bool)
    clean[picks.ravel()] = False
    clean[gap_rows] = False
    for T, o1, o2 in dst_events:
        near = np.nonzero((np.abs(t0[inc] - T) < 2 * 86400) & clean)[0]
        present = np.column_stack([times[c][near] for c in _TIME_COLUMNS])
        loc = np.column_stack([local[c][near] for c in _TIME_COLUMNS])
        d = abs(o2 - o1)
        touch = np.any((present >= T - d) & (present < T + d), axis=1)
        run_max = np.fmax.accumulate(np.where(np.isnan(loc), -np.inf, loc), axis=1)
        backwards = np.any(loc[:, 1:] < run_max[:, :-1], axis=1)
        day = dt.datetime.fromtimestamp(T, tz=zone).date()
        day0 = (T + o1) // 86400 * 86400
        in_window = (loc[:, 0] >= day0 + 3600) & (loc[:, 0] < day0 + 3 * 3600)
        dst_notes.append(
            {
                "date": day.strftime("%m/%d/%Y"),
                "kind": "spring-forward" if o2 > o1 else "fall-back",
                "incidents": int(np.unique(inc[near][in_window]).size),
                "rows": int(in_window.sum()),
                "repeated": int(touch.sum()) if o2 < o1 else 0,
                "backwards": int(backwards.sum()),
                "crossing": int(touch.sum()) if o2 > o1 else 0,
            }
        )
    readme = _readme_text(
        n=n,
        n_rows=n_rows,
        seed=int(seed),
        start=start_date,
        days=days,
        planted=planted,
        dst=dst_notes,
    )
    try:
        paths["readme"].write_text(readme, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise SampleError(f"cannot write {paths['readme']}: {exc}") from exc

    return SampleCity(
        out_dir=out,
        incidents_csv=paths["csv"],
        mapping_toml=paths["toml"],
        stations_geojson=paths["stations"],
        station_areas_geojson=paths["areas"],
        battalions_geojson=paths["battalions"],
        readme=paths["readme"],
        n_incidents=n,
        n_rows=n_rows,
        planted=planted,
    )


# ====================================================================== text files
def _toml_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def mapping_toml() -> str:
    """The mapping TOML that ingests the sample city's CSV (also used by the benchmarks)."""
    return f"""\
# Mapping for the synthetic sample city written by `dispatch sample`.
[source]
name = "sample_city"
grain = "unit"
timezone = "{TIMEZONE}"
timestamp_format = "{TIMESTAMP_FORMAT}"
crs = "EPSG:4326"

[columns]
incident_id = "INC_NO"
unit_id = "UNIT"
unit_type = "UNIT_TYPE"
station_id = "STATION"
call_type = "NATURE"
priority = "PRI"
call_received_at = "T_RCVD"
dispatched_at = "T_DISP"
enroute_at = "T_ENRT"
on_scene_at = "T_ARRV"
transport_at = "T_TRANS"
at_hospital_at = "T_HOSP"
cleared_at = "T_CLR"
latitude = "LAT"
longitude = "LON"

[categories]
# Everything else ({", ".join(OTHER_TYPES)}) falls back to "other".
ems = {_toml_list(EMS_TYPES)}
fire = {_toml_list(FIRE_TYPES)}

[validation]
max_interval_s = {_MAX_INTERVAL_S}
"""


_REASON_TEXT = {
    "unparseable_time": "garbage in one time column (`13/45/2024 25:61:00`, `N/A?`, ...)",
    "missing_id": "blank `INC_NO` or blank `UNIT`",
    "stage_order": "`T_ENRT` 30-240 s earlier than `T_DISP`",
    "interval_too_long": "`T_ARRV` 6.25-9 h after `T_ENRT` (limit 21600 s; later stages shifted too)",
    "missing_coordinates": "blank `LAT` and `LON`",
    "zero_coordinates": "`LAT` = 0 and `LON` = 0",
    "coordinates_out_of_range": "`LAT` = 123.4 or `LON` = -200",
    "duplicate_row": "exact copy of a clean row, placed 1-4 rows after it",
    "nonexistent_local_time": "`T_RCVD` inside the spring-forward gap (02:xx local)",
}


def _readme_text(*, n, n_rows, seed, start, days, planted, dst) -> str:
    total = sum(planted.values())
    share = 100.0 * total / n_rows if n_rows else 0.0
    lines = [
        "# Sample city (synthetic data)",
        "",
        "Everything in this directory is **synthetic**: the city, its stations, units and",
        "incidents are invented (placed near Austin, Texas only to look plausible). Generated",
        f"by `dispatch_analytics.sample.generate_city` with seed {seed}: {n:,} incidents,",
        f"{n_rows:,} unit rows, {days} days from {start.isoformat()} (local time, {TIMEZONE}).",
        "The same seed always gives byte-identical files.",
        "",
        "## Files",
        "",
        "| File | Contents |",
        "| --- | --- |",
        "| `sample_city.csv` | CAD export, one row per unit per incident (unit grain) |",
        "| `sample_city.toml` | mapping that ingests `sample_city.csv` |",
        "| `stations.geojson` | station points: `station_id`, `name`, `battalion_id`, `units` |",
        "| `station_areas.geojson` | first-due areas (Voronoi cells of the stations clipped to "
        "the city): `station_id`, `name`, `battalion_id` |",
        "| `battalions.geojson` | battalion polygons (unions of station areas): "
        "`battalion_id`, `name` |",
        "",
        "GeoJSON layers are EPSG:4326 (longitude, latitude). Station areas cover the city",
        "without gaps or overlaps.",
        "",
        "## Columns of `sample_city.csv`",
        "",
        "| Column | Meaning |",
        "| --- | --- |",
        "| `INC_NO` | incident number, `YY-NNNNNN` (numbered per year of receipt) |",
        "| `UNIT` | unit id: `E01` engine, `M03` medic, `T02` truck, `B1` battalion chief |",
        "| `UNIT_TYPE` | `ENGINE`, `MEDIC`, `TRUCK` or `CHIEF` |",
        "| `STATION` | home station of the unit (`S01`..`S12`) |",
        "| `NATURE` | call type |",
        "| `PRI` | priority 1 (highest) to 3 |",
        "| `T_RCVD` | call received |",
        "| `T_DISP` | unit dispatched |",
        "| `T_ENRT` | unit en route |",
        "| `T_ARRV` | unit on scene (blank when cancelled before arrival) |",
        "| `T_TRANS` | medic left scene transporting |",
        "| `T_HOSP` | medic at hospital |",
        "| `T_CLR` | unit cleared (also for cancelled units) |",
        "| `LAT`, `LON` | incident location, WGS84 degrees |",
        "",
        f"Times are local {TIMEZONE} wall-clock readings, `{TIMESTAMP_FORMAT}`, blank when",
        "absent. They were generated as true UTC instants and converted with `zoneinfo`.",
        "",
        f"Call types: EMS ({', '.join(EMS_TYPES)}) ~65 %; fire ({', '.join(FIRE_TYPES)})",
        f"~20 %; other ({', '.join(OTHER_TYPES)}) ~15 %.",
        "",
        "## Planted dirty rows",
        "",
        f"{total:,} of {n_rows:,} rows ({share:.2f} %) are planted; each has exactly one",
        "problem and an ingest must reject it for the reason below. Every other row is clean.",
        "",
        "| Reject reason | Rows | Problem |",
        "| --- | ---: | --- |",
    ]
    for reason in PLANTED_REASONS:
        lines.append(f"| `{reason}` | {planted[reason]} | {_REASON_TEXT[reason]} |")
    lines += [f"| **total** | {total} | {share:.2f} % of rows |", ""]
    lines += ["## Daylight-saving nights", ""]
    if not dst:
        lines += ["The period contains no daylight-saving change.", ""]
    for d in dst:
        lines.append(
            f"* {d['date']} ({d['kind']}): clean incidents received between 01:00 and 03:00"
            f" local: {d['incidents']} ({d['rows']} rows)."
        )
        if d["kind"] == "fall-back":
            lines.append(
                f"  {d['repeated']} clean rows have a time inside the repeated hour (01:00-01:59"
                f" read twice); in {d['backwards']} of them the local readings run backwards"
                " within the row. They are correct: resolve each ambiguous reading to the"
                " offset that keeps the stages in order."
            )
        else:
            lines.append(
                f"  {d['crossing']} clean rows have a time within an hour of the jump; no"
                " clean reading falls in 02:00-02:59. Wall-clock differences across the jump"
                " are one hour too long; intervals must be computed on UTC instants."
            )
    lines.append("")
    return "\n".join(lines)
