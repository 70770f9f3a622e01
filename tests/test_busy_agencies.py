"""Issue 9: ``coverage --busy`` on a store of several agencies: each agency's units' busy
shares over its own calls (its own window and time zone), each station takes its agency's
share; rows say the agency. Checked against a pandas computation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_coverage import TOWN, run  # noqa: E402

from dispatch_analytics import Store, ingest, load_profile  # noqa: E402
from dispatch_analytics.analysis.busy import BusyShares  # noqa: E402
from dispatch_analytics.analysis.coverage import Coverage  # noqa: E402
from dispatch_analytics.analysis.travel_model import TravelModel  # noqa: E402
from dispatch_analytics.errors import AgencyError  # noqa: E402
from dispatch_analytics.spatial.stations import load_stations  # noqa: E402
from dispatch_analytics.spatial.units import load_units  # noqa: E402
from dispatch_analytics.spatial.zones import load_zones  # noqa: E402

#: agency -> (prefix of its unit and station ids, minutes from arrival to cleared, time zone)
AGENCIES = {"Town FD": ("", 25, "UTC"), "County FD": ("C", 70, "America/Chicago")}


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("busy2")
    root = tmp / "store"
    base = pl.read_csv(TOWN / "town_calls.csv")
    units = pl.read_csv(TOWN / "town_units.csv")
    stations = pl.read_csv(TOWN / "town_stations.csv")
    rosters = []
    for agency, (px, minutes, tz) in AGENCIES.items():
        calls = base.with_columns(
            (px + pl.col("unit")).alias("unit"),
            (pl.col("arrv").str.to_datetime("%Y-%m-%d %H:%M:%S") + pl.duration(minutes=minutes))
            .dt.strftime("%Y-%m-%d %H:%M:%S")
            .alias("clr"),
        )
        csv = tmp / f"calls_{px or 'T'}.csv"
        calls.write_csv(csv)
        toml = (TOWN / "town_calls.toml").read_text().replace(
            'timezone = "UTC"', f'timezone = "{tz}"\nagency = "{agency}"'
        ) + 'cleared_at = "clr"\n'
        (tmp / f"calls_{px or 'T'}.toml").write_text(toml)
        ingest(csv, load_profile(tmp / f"calls_{px or 'T'}.toml"), data_dir=root)
        st = stations.with_columns((px + pl.col("station_id")).alias("station_id"))
        st.write_csv(tmp / f"stations_{px or 'T'}.csv")
        load_stations(root, tmp / f"stations_{px or 'T'}.csv", agency=agency)
        rosters.append(
            units.with_columns(
                (px + pl.col("unit_id")).alias("unit_id"),
                (px + pl.col("station_id")).alias("station_id"),
            )
        )
    pl.concat(rosters).write_csv(tmp / "units.csv")
    load_units(root, tmp / "units.csv")
    load_zones(root, TOWN / "town_zones.geojson", "town", "zone", name_field="label")
    TravelModel.from_store(Store(root), seed=1, agency="all").save(root)
    return root


def _pandas_shares(root: Path, agency: str) -> dict[str, float]:
    """Busy share per home station of one agency over its own calls, by hand."""
    con = Store(root).connect(read_only=True)
    r = con.execute(
        "select unit_id, dispatched_at, cleared_at, call_received_local_at, timezone "
        "from responses where agency = ?",
        [agency],
    ).df()
    home = con.execute("select unit_id, station_id from units").df()
    con.close()
    home = home.set_index("unit_id")["station_id"]
    tz = r["timezone"].iloc[0]
    first = pd.Timestamp(r["call_received_local_at"].min().date()).tz_localize(tz)
    last = pd.Timestamp(r["call_received_local_at"].max().date()) + pd.Timedelta(days=1)
    last = last.tz_localize(tz)
    hours = (last - first).total_seconds() / 3600
    busy: dict[str, float] = {}
    n: dict[str, int] = {}
    for unit, g in r.groupby("unit_id"):
        s = home[unit]
        n[s] = n.get(s, 0) + 1
        iv = g.dropna(subset=["dispatched_at", "cleared_at"]).sort_values("dispatched_at")
        total, cur = 0.0, None
        for a, b in zip(iv["dispatched_at"], iv["cleared_at"], strict=True):
            a, b = max(a, first), min(b, last)
            if b <= a:
                continue
            if cur is None or a > cur[1]:
                total += (cur[1] - cur[0]).total_seconds() if cur else 0.0
                cur = [a, b]
            else:
                cur[1] = max(cur[1], b)
        total += (cur[1] - cur[0]).total_seconds() if cur else 0.0
        busy[s] = busy.get(s, 0.0) + total / 3600
    return {s: busy[s] / (n[s] * hours) for s in busy}


@pytest.mark.slow  # two agencies against pandas; fast: test_one_agency_of_several
def test_each_agency_over_its_own_calls(two):
    b = BusyShares.from_store(Store(two), agency="all")
    assert b.agencies == ["County FD", "Town FD"]
    for agency in AGENCIES:
        want = _pandas_shares(two, agency)
        got = {s: q for (a, s), q in b.agency_shares.items() if a == agency}
        assert got == pytest.approx(want, abs=1e-9)
    # a station takes its own agency's share; the county's units are busier (70 min vs 25)
    q, assumed = b.of(["S1", "CS1"])
    assert q[0] == pytest.approx(_pandas_shares(two, "Town FD")["S1"])
    assert q[1] == pytest.approx(_pandas_shares(two, "County FD")["CS1"])
    assert q[1] > q[0] and assumed == []
    assert b.station_agency["S1"] == "Town FD" and b.station_agency["CS1"] == "County FD"
    # the windows are each agency's own local dates
    assert set(b.windows) == set(AGENCIES)
    d = b.describe(["S1", "CS1", "NEW"])
    assert d["busy_agency"] == {"S1": "Town FD", "CS1": "County FD", "NEW": None}
    assert d["busy_assumed"] == ["NEW"]


def test_one_agency_of_several(two):
    b = BusyShares.from_store(Store(two), agency="County FD")
    assert b.shares == pytest.approx(_pandas_shares(two, "County FD"), abs=1e-9)
    assert b.agency_shares == {} and b.agencies == ["County FD"]


def test_none_on_several_agencies_refuses(two):
    with pytest.raises(
        AgencyError,
        match=r"the store holds 2 agencies \(County FD, Town FD\); "
        r'choose one with `agency="County FD"`, or `agency="all"`',
    ):
        BusyShares.from_store(Store(two))
    with pytest.raises(AgencyError, match=r"`agency` 'Nowhere' is not in the store"):
        BusyShares.from_store(Store(two), agency="Nowhere")


def test_coverage_busy_several_agencies(two):
    cov = Coverage.from_store(
        Store(two), target_s=120, resolution=9, layer="town", busy=True, agency="all"
    )
    b = BusyShares.from_store(Store(two), agency="all")
    got = dict(zip(cov.stations["station_id"], cov.stations["busy_share"], strict=True))
    assert got == pytest.approx(dict(zip(got, b.of(list(got))[0], strict=True)))
    assert 0 <= cov.summary["expected_covered_share"] <= cov.summary["covered_share"]


@pytest.mark.slow  # the CLI on two agencies; fast: test_coverage_busy_several_agencies
def test_cli_coverage_busy_several_agencies(two, capsys):
    code, out, err = run(
        capsys,
        "coverage",
        "--target-s",
        "120",
        "--layer",
        "town",
        "--busy",
        "--agency",
        "all",
        "--format",
        "json",
        "--data-dir",
        str(two),
    )
    assert code == 0, err
    doc = json.loads(out)
    rows = {r["station_id"]: r for r in doc["by_station"] if r.get("busy_share") is not None}
    assert rows and all(
        r["agency"] == ("County FD" if s.startswith("C") else "Town FD") for s, r in rows.items()
    )
    code, out, err = run(
        capsys,
        "coverage",
        "--target-s",
        "120",
        "--layer",
        "town",
        "--busy",
        "--agency",
        "all",
        "--data-dir",
        str(two),
    )
    assert code == 0, err
    text = " ".join(out.split())
    assert "each agency's units over its own calls" in text and "County FD" in text
    code, out, err = run(
        capsys,
        "coverage",
        "--target-s",
        "120",
        "--layer",
        "town",
        "--busy",
        "--data-dir",
        str(two),
    )
    assert code == 1 and "choose one with `--agency NAME`" in " ".join(err.split())
