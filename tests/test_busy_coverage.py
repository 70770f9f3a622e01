"""Coverage that knows units are busy (MEXCLP-style expected coverage): a hand-computed tiny
instance, measured busy shares against a pandas computation, never above plain coverage,
what-if and siting carry it, the CLI and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import build_town, examples
from hypothesis import given, settings
from hypothesis import strategies as st
from test_coverage import TOWN, _model, run

from dispatch_analytics import Store
from dispatch_analytics.analysis.busy import BusyShares, expected_cover
from dispatch_analytics.analysis.coverage import Coverage
from dispatch_analytics.analysis.siting import Siting
from dispatch_analytics.analysis.whatif import WhatIf
from dispatch_analytics.errors import CoverageError
from dispatch_analytics.spatial.stations import read_stations


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    """The coverage town with a cleared time on every response (on scene + 25 min): units
    committed for a measurable share of the time."""
    tmp = tmp_path_factory.mktemp("busytown")
    calls = pl.read_csv(TOWN / "town_calls.csv").with_columns(
        (pl.col("arrv").str.to_datetime("%Y-%m-%d %H:%M:%S") + pl.duration(minutes=25))
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("clr")
    )
    calls.write_csv(tmp / "busy_calls.csv")
    toml = (TOWN / "town_calls.toml").read_text() + 'cleared_at = "clr"\n'
    (tmp / "busy_calls.toml").write_text(toml)
    return build_town(tmp / "store", tmp / "busy_calls.csv", tmp / "busy_calls.toml")


def test_tiny_instance_by_hand():
    """Three cells, two stations (busy 0.2 and 0.5): cell 1 reached by both, cell 2 by the
    second only, cell 3 by none."""
    travel = np.array([[100.0, 200.0], [500.0, 150.0], [400.0, 300.0]])
    n, e = expected_cover(travel, 240, np.array([0.2, 0.5]))
    assert n.tolist() == [2, 1, 0]
    assert e == pytest.approx([1 - 0.2 * 0.5, 1 - 0.5, 0.0])
    # demand-weighted share: demands 10, 30, 60
    w = np.array([10, 30, 60])
    assert (w * e).sum() / w.sum() == pytest.approx((10 * 0.9 + 30 * 0.5) / 100)
    # busy shares of 0 are plain coverage
    _, plain = expected_cover(travel, 240, np.zeros(2))
    assert plain.tolist() == [1.0, 1.0, 0.0]


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(st.lists(st.floats(0, 1000), min_size=3, max_size=3), min_size=1, max_size=12),
    st.lists(st.floats(0, 1), min_size=3, max_size=3),
    st.floats(1, 1000),
)
def test_expected_is_a_probability_and_never_above_plain(travel, busy, target):
    t = np.array(travel)
    n, e = expected_cover(t, target, np.array(busy))
    plain = (t <= target).any(axis=1)
    assert ((e >= 0) & (e <= 1 + 1e-12)).all()
    assert (e[~plain] == 0).all() and (n[plain] >= 1).all()
    assert (e <= plain.astype(float) + 1e-12).all()


def _pandas_busy_share(root: Path) -> dict[str, float]:
    """Busy share per home station (the units roster) over the whole history, by hand: each
    unit's dispatched -> cleared intervals merged, clipped to the window of local days, /
    (units x window hours)."""
    con = Store(root).connect(read_only=True)
    r = con.execute(
        "select unit_id, station_id, dispatched_at, cleared_at, call_received_local_at, timezone "
        "from responses"
    ).df()
    con.close()
    tz = r["timezone"].iloc[0]
    first = pd.Timestamp(r["call_received_local_at"].min().date()).tz_localize(tz)
    last = pd.Timestamp(r["call_received_local_at"].max().date()) + pd.Timedelta(days=1)
    last = last.tz_localize(tz)
    hours = (last - first).total_seconds() / 3600
    home = pd.read_csv(TOWN / "town_units.csv").set_index("unit_id")["station_id"]  # roster
    busy: dict[str, float] = {}
    units: dict[str, int] = {}
    for unit, g in r.groupby("unit_id"):
        if unit not in home.index:
            continue
        s = home[unit]
        units[s] = units.get(s, 0) + 1
        iv = g.dropna(subset=["dispatched_at", "cleared_at"])
        iv = iv[iv["cleared_at"] > iv["dispatched_at"]].sort_values("dispatched_at")
        total, cur_a, cur_b = 0.0, None, None
        for a, b in zip(iv["dispatched_at"], iv["cleared_at"], strict=True):
            a, b = max(a, first), min(b, last)
            if b <= a:
                continue
            if cur_b is None or a > cur_b:
                if cur_b is not None:
                    total += (cur_b - cur_a).total_seconds()
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_b is not None:
            total += (cur_b - cur_a).total_seconds()
        busy[s] = busy.get(s, 0.0) + total / 3600
    return {s: busy[s] / (units[s] * hours) for s in busy}


@pytest.mark.slow  # the town against pandas; fast: test_tiny_instance_by_hand
def test_measured_shares_equal_a_pandas_computation(town):
    b = BusyShares.from_store(Store(town))
    expect = _pandas_busy_share(town)
    assert b.source == "measured" and set(b.shares) == set(expect)
    for s, v in expect.items():
        assert b.shares[s] == pytest.approx(v, abs=1e-9)
    assert b.default == pytest.approx(np.mean(list(expect.values())))
    band = BusyShares.from_store(Store(town), hour=13)
    assert band.band == (12, 16) and band.hour == 13


def test_coverage_busy_is_expected_coverage_of_the_grid(town):
    store = Store(town)
    plain = Coverage.from_store(store, target_s=120, resolution=9, layer="town")
    cov = Coverage.from_store(store, target_s=120, resolution=9, layer="town", busy=True)
    assert cov.cells["covered"].equals(plain.cells["covered"])  # plain columns unchanged
    s = cov.summary
    assert s["covered_share"] == plain.summary["covered_share"]
    assert 0 <= s["expected_covered_share"] <= s["covered_share"]
    # by hand from the cells and the stations' shares
    q = dict(zip(cov.stations["station_id"], cov.stations["busy_share"], strict=True))
    b = BusyShares.from_store(store)
    assert q == pytest.approx({k: b.shares.get(k, b.default) for k in q})
    assert cov.cells["expected_covered"].max() <= 1
    dem = cov.cells["demand"].to_numpy()
    assert s["expected_covered_share"] == pytest.approx(
        (dem * cov.cells["expected_covered"].to_numpy()).sum() / dem.sum()
    )
    assert cov.metadata["busy"]["busy_share"] == pytest.approx(q)
    gdf = cov.to_geodataframe()
    assert {"n_covering", "expected_covered"} <= set(gdf.columns)


def test_whatif_and_site_carry_busy_shares(town):
    base = Coverage.from_store(
        Store(town),
        target_s=90,
        resolution=10,
        layer="town",
        model=_model(),
        busy=BusyShares.from_mapping({"S1": 0.5, "S2": 0.25}, default=0.1),
    )
    un = base.cells.filter(~pl.col("covered")).sort("demand", descending=True).row(0, named=True)
    wi = WhatIf.from_coverage(base, add=[(un["longitude"], un["latitude"])])
    assert "expected_covered_share" in wi.delta and wi.delta["expected_covered_share"] > 0
    new = wi.after.stations.filter(~pl.col("station_id").is_in(base.stations["station_id"]))
    assert new["busy_share"].to_list() == [0.1]  # a new station takes the default
    # S3 has no given share either: both take the default, and say so
    assert wi.after.metadata["busy"]["busy_assumed"] == ["S3", *new["station_id"].to_list()]
    site = Siting.from_coverage(base, k=1)
    assert (
        site.to_dict()["after"]["expected_covered_share"] >= base.summary["expected_covered_share"]
    )


def test_busy_errors():
    with pytest.raises(CoverageError, match=r"busy shares must be numbers from 0 to 1: S1=1.5"):
        BusyShares.from_mapping({"S1": 1.5})
    with pytest.raises(CoverageError, match=r"`hour` must be a local hour from 0 to 23"):
        BusyShares.from_store(None, hour=24)


def test_busy_needs_history(tmp_path):
    root = tmp_path / "empty"
    Store(root)
    with pytest.raises(CoverageError, match=r"`--busy` needs the agency's unit responses"):
        BusyShares.from_store(Store(root))


@pytest.mark.slow  # three commands; fast: test_whatif_and_site_carry_busy_shares
def test_cli_coverage_whatif_site_busy(town, capsys):
    d = str(town)
    code, out, err = run(
        capsys,
        "coverage",
        "--target-s",
        "120",
        "--layer",
        "town",
        "--busy",
        "-f",
        "json",
        "--data-dir",
        d,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert 0 <= doc["expected_covered_share"] <= doc["covered_share"]
    assert set(doc["busy_share"]) == set(read_station_ids(town))
    assert all("busy_share" in r for r in doc["by_station"])
    code, out, err = run(
        capsys, "coverage", "--target-s", "120", "--layer", "town", "--busy", "--data-dir", d
    )
    assert code == 0, err
    assert "expected_covered_share" in out and "expected coverage: stations busy" in out
    code, out, err = run(
        capsys,
        "whatif",
        "--close-station",
        "S1",
        "--target-s",
        "120",
        "--layer",
        "town",
        "--busy",
        "-f",
        "json",
        "--data-dir",
        d,
    )
    assert code == 0, err
    w = json.loads(out)
    assert w["delta"]["expected_covered_share"] <= 1e-12
    code, out, err = run(
        capsys,
        "site",
        "--new",
        "1",
        "--target-s",
        "90",
        "--layer",
        "town",
        "--busy",
        "--data-dir",
        d,
    )
    assert code == 0, err
    assert "expected (busy)" in out


def read_station_ids(root: Path) -> list[str]:
    return read_stations(root)["station_id"].tolist()
