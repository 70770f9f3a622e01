"""Shared fixtures: small hand-built exports and a fresh store per test."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "sffd_calls_2017w01"
SF_SLICE = DATA / "sffd_slice.csv"


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",",
              encoding: str = "utf-8") -> Path:
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
UNIT_HEADER = ["Event #", "Apparatus", "Nature", "Pri", "Call Rcvd", "Dispatched",
               "Enroute", "Arrived", "Clear", "Lat", "Lon"]

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


def unit_row(inc="E1", unit="M1", rcvd="01/15/2024 10:00:00", disp="01/15/2024 10:01:00",
             enrt="01/15/2024 10:02:00", arrv="01/15/2024 10:07:00", clr="01/15/2024 10:40:00",
             lat="40.71", lon="-74.00", nature="Medical", pri="1"):
    return [inc, unit, nature, pri, rcvd, disp, enrt, arrv, clr, lat, lon]


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def unit_toml(tmp_path) -> Path:
    return write_toml(tmp_path / "unit.toml", UNIT_TOML)
