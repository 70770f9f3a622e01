"""Shared fixtures: small hand-built exports and a fresh store per test."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "sffd_calls_2017w01"
SF_SLICE = DATA / "sffd_slice.csv"


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
