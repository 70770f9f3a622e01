"""Shared fixtures: small hand-built exports, a fresh store per test, and the expensive stores
(the SF week, the sample city + SFFD slice, the coverage town) built once per session.

The session stores are built once per pytest process (per xdist worker); a module or test
never uses them directly but takes a :func:`copy_store` of one, so no test sees another's
writes. See docs/testing.md.
"""

from __future__ import annotations

import csv
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from browser_helpers import require_chromium  # sets DASH_TEST_CHROMEPATH for dash_duo
from hypothesis import settings

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SF_SLICE = DATA / "sffd_slice.csv"
SF_WEEK = REPO / "sample_data" / "sf_week"
SF_WEEK_CSV = SF_WEEK / "sffd_calls_2016-12-31_2017-01-07.csv"
SF_NHOODS = SF_WEEK / "sf_analysis_neighborhoods.geojson"
SF_STATIONS = SF_WEEK / "sf_fire_stations.geojson"
#: `dispatch` arguments that load the SF stations, ids from their names ("Station #7" -> "07")
SF_STATIONS_LOAD = (
    "stations",
    "load",
    SF_STATIONS,
    "--id-field",
    "common_name",
    "--id-regex",
    r"#(\d+)",
    "--zero-pad",
    "2",
)
TOWN = DATA / "coverage"


# ------------------------------------------------------------------ hypothesis profiles
#: ``make test-fast`` passes ``--hypothesis-profile=fast``: a sixth of every test's examples
#: (at least 3; the default 100 becomes 16). ``make test`` and a plain ``pytest`` keep the
#: ``default`` profile and every test's own count. See docs/testing.md.
FAST_PROFILE = "fast"
FAST_SHARE = 6
settings.register_profile(FAST_PROFILE, max_examples=100 // FAST_SHARE)


def examples(n: int) -> int:
    """A hypothesis test's ``max_examples``: ``n``, or a sixth of it (at least 3) under the
    ``fast`` profile. Use as ``@settings(max_examples=examples(60), ...)``."""
    if settings.get_current_profile_name() == FAST_PROFILE:
        return max(3, n // FAST_SHARE)
    return n


# ------------------------------------------------------------------ browser tests
@pytest.fixture(autouse=True)
def _chromium(request):
    """Tests marked ``browser`` fail (never skip) without Chromium (browser_helpers)."""
    if request.node.get_closest_marker("browser") is not None:
        require_chromium()


def write_csv(
    path: Path, header: list[str], rows: list[list], delimiter: str = ",", encoding: str = "utf-8"
) -> Path:
    """Write a small CSV export."""
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_toml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


#: A made-up unit-grain CAD export with its own column names, US Eastern local times.
UNIT_HEADER = [
    "Event #",
    "Apparatus",
    "Nature",
    "Pri",
    "Call Rcvd",
    "Dispatched",
    "Enroute",
    "Arrived",
    "Clear",
    "Lat",
    "Lon",
]

UNIT_TOML = """
[source]
grain = "unit"
timezone = "America/New_York"
timestamp_format = "%m/%d/%Y %H:%M:%S"
crs = "EPSG:4326"

[columns]
incident_id = "Event #"
unit_id = "Apparatus"
call_type = "Nature"
priority = "Pri"
call_received_at = "Call Rcvd"
dispatched_at = "Dispatched"
enroute_at = "Enroute"
on_scene_at = "Arrived"
cleared_at = "Clear"
latitude = "Lat"
longitude = "Lon"

[categories]
ems = ["Medical*", "Cardiac*"]
fire = ["*Fire*"]

[validation]
max_interval_s = 3600
"""


def unit_row(
    inc="E1",
    unit="M1",
    rcvd="01/15/2024 10:00:00",
    disp="01/15/2024 10:01:00",
    enrt="01/15/2024 10:02:00",
    arrv="01/15/2024 10:07:00",
    clr="01/15/2024 10:40:00",
    lat="40.71",
    lon="-74.00",
    nature="Medical",
    pri="1",
):
    return [inc, unit, nature, pri, rcvd, disp, enrt, arrv, clr, lat, lon]


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def unit_toml(tmp_path) -> Path:
    return write_toml(tmp_path / "unit.toml", UNIT_TOML)


def big_unit_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A clean unit-grain export of ``n`` rows in the UNIT_HEADER layout, fast (vectorised)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    base = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 300 * 86400, n).astype(
        "timedelta64[s]"
    )
    disp = base + rng.integers(20, 120, n).astype("timedelta64[s]")
    enrt = disp + rng.integers(20, 120, n).astype("timedelta64[s]")
    arrv = enrt + rng.integers(60, 900, n).astype("timedelta64[s]")
    clr = arrv + rng.integers(300, 3600, n).astype("timedelta64[s]")
    fmt = "%m/%d/%Y %H:%M:%S"

    def txt(a):
        return pl.Series(a.astype("datetime64[ms]")).dt.strftime(fmt)

    df = pl.DataFrame(
        {
            "Event #": pl.Series(np.arange(n) // 2).cast(pl.String),
            "Apparatus": pl.Series(np.where(np.arange(n) % 2 == 0, "M1", "E1")),
            "Nature": pl.Series(rng.choice(["Medical", "Structure Fire", "Alarm"], n)),
            "Pri": pl.Series(rng.integers(1, 4, n)).cast(pl.String),
            "Call Rcvd": txt(base),
            "Dispatched": txt(disp),
            "Enroute": txt(enrt),
            "Arrived": txt(arrv),
            "Clear": txt(clr),
            "Lat": pl.Series(40.6 + rng.random(n) * 0.2).round(6).cast(pl.String),
            "Lon": pl.Series(-74.1 + rng.random(n) * 0.2).round(6).cast(pl.String),
        }
    )
    # base times are UTC instants rendered as if local: drop those in the spring-forward gap
    df.write_csv(path)
    return path


# ------------------------------------------------------------------ stores built once
def _link_or_copy(src: str, dst: str) -> str:
    # Parquet files are hard-linked: every writer of the store publishes a new file by a
    # rename and never rewrites one in place, so a copy's writes never reach the original.
    # Everything else (the DuckDB catalog, JSON state, locks) is copied.
    if src.endswith(".parquet"):
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    return shutil.copy2(src, dst)


def copy_store(src: Path, dst: Path) -> Path:
    """A private, writable copy of the store at ``src`` in ``dst`` (which must not exist).

    Symlinks are kept as links (the derived table's ``current`` link is relative). The copy's
    catalog records the original's folder, so the first :class:`Store` opened on the copy
    rebuilds it, as for a store moved by hand.
    """
    shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
    return dst


@pytest.fixture(scope="session")
def sf_week_store(tmp_path_factory) -> Path:
    """The real SF week (sample_data/sf_week) ingested with the ``sffd`` profile, plus the
    ``neighborhoods`` zone layer. Session-wide: take a :func:`copy_store` of it."""
    from dispatch_analytics.api import ingest
    from dispatch_analytics.ingest.profiles import load_profile
    from dispatch_analytics.spatial.zones import load_zones

    d = tmp_path_factory.mktemp("sf_week_base") / "store"
    ingest(SF_WEEK_CSV, load_profile("sffd"), data_dir=d)
    load_zones(d, SF_NHOODS, "neighborhoods", "nhood")
    return d


@pytest.fixture(scope="session")
def two_agency_store(tmp_path_factory) -> Path:
    """The sample city and the SFFD slice in one store (``metrics_helpers.sample_store``).
    Session-wide: take a :func:`copy_store` of it."""
    import metrics_helpers as H

    d = tmp_path_factory.mktemp("two_agency_base") / "store"
    H.sample_store(d)
    return d


@pytest.fixture(scope="session")
def town_stations_store(tmp_path_factory) -> Path:
    """The coverage town's 151 calls and its stations only (no zones, no units).
    Session-wide: take a :func:`copy_store` of it."""
    from dispatch_analytics.api import ingest
    from dispatch_analytics.ingest.profiles import load_profile
    from dispatch_analytics.spatial.stations import load_stations

    root = tmp_path_factory.mktemp("town_stations_base") / "store"
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    load_stations(root, TOWN / "town_stations.csv")
    return root


def build_town(root: Path, calls_csv: Path, calls_toml: Path) -> Path:
    """A coverage-town store at ``root``: the calls of ``calls_csv`` (mapped by ``calls_toml``),
    the town's 5 zones, 3 stations and 4 units, and a travel model fitted with seed 1."""
    from dispatch_analytics import Store
    from dispatch_analytics.analysis.travel_model import TravelModel
    from dispatch_analytics.api import ingest
    from dispatch_analytics.ingest.profiles import load_profile
    from dispatch_analytics.spatial.stations import load_stations
    from dispatch_analytics.spatial.units import load_units
    from dispatch_analytics.spatial.zones import load_zones

    ingest(calls_csv, load_profile(calls_toml), data_dir=root)
    load_zones(root, TOWN / "town_zones.geojson", "town", "zone", name_field="label")
    load_stations(root, TOWN / "town_stations.csv")
    load_units(root, TOWN / "town_units.csv")
    TravelModel.from_store(Store(root), seed=1).save(root)
    return root


@pytest.fixture(scope="session")
def town_store(tmp_path_factory) -> Path:
    """The coverage town (tests/data/coverage): 5 zones, 3 stations, 4 units, 151 calls and
    a fitted travel model (seed 1). Session-wide: take a :func:`copy_store` of it."""
    root = tmp_path_factory.mktemp("town_base") / "store"
    return build_town(root, TOWN / "town_calls.csv", TOWN / "town_calls.toml")
