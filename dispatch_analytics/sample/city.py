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

The generator is split by step: :mod:`.geography` (boundary, stations, areas,
battalions), :mod:`.calls` (incidents, units, stage times), :mod:`.dirty` (planted rows),
:mod:`.files` and :mod:`.readme` (the written files); :mod:`.constants` holds the public
constants, re-exported here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SampleError
from .calls import _assign_units, _draw_incidents, _stage_times
from .constants import (
    _MAX_DAYS,
    AGENCY,
    CALL_TYPES,
    CENTER_LONLAT,
    CSV_COLUMNS,
    EMS_TYPES,
    FIRE_TYPES,
    MAX_INCIDENTS,
    OTHER_TYPES,
    PLANTED_REASONS,
    PLANTED_SHARE,
    TIMESTAMP_FORMAT,
    TIMEZONE,
    CallType,
)
from .dirty import _plant_dirty_rows
from .files import _build_table, _write_csv, _write_gis, mapping_toml
from .geography import _build_geography
from .readme import _dst_notes, _readme_text, _write_readme
from .zonetable import _period

__all__ = [
    "mapping_toml",
    "TIMEZONE",
    "AGENCY",
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


def _check_args(n_incidents, seed, start, days) -> tuple[int, dt.date, int, dt.date]:
    """Validated ``(n, start date, days, end date)``."""
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
    return n, start_date, days, end_date


def _output_paths(out: Path) -> dict[str, Path]:
    """Create ``out``; the paths of the files written into it (and ``"out"`` itself)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SampleError(f"cannot create output directory {out}: {exc}") from exc
    return {
        "out": out,
        "csv": out / "sample_city.csv",
        "toml": out / "sample_city.toml",
        "stations": out / "stations.geojson",
        "areas": out / "station_areas.geojson",
        "battalions": out / "battalions.geojson",
        "readme": out / "README.md",
    }


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
    n, start_date, days, end_date = _check_args(n_incidents, seed, start, days)
    paths = _output_paths(Path(out_dir))
    # One generator for everything, drawn from in this order (see calls and dirty).
    rng = np.random.default_rng(int(seed))
    geo = _build_geography(rng)
    cells = _write_gis(geo, paths)  # incidents are placed in the written (rounded) areas
    period = _period(start_date, end_date, days)
    incs = _draw_incidents(n, geo, cells, period, rng)
    rows = _assign_units(incs, geo, rng)
    stages = _stage_times(incs, rows, period.zt, rng)
    dirty = _plant_dirty_rows(incs, rows, stages, period, rng)
    df = _build_table(incs, rows, dirty, geo, period.zt)
    _write_csv(df, paths)
    readme = _readme_text(
        n=n,
        n_rows=df.height,
        seed=int(seed),
        start=start_date,
        days=days,
        planted=dirty.planted,
        dst=_dst_notes(incs, rows, stages, dirty, period.zone),
    )
    _write_readme(readme, paths["readme"])
    return _result(paths, n, df.height, dirty.planted)


def _result(paths: dict[str, Path], n: int, n_rows: int, planted: dict[str, int]) -> SampleCity:
    return SampleCity(
        out_dir=paths["out"],
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
