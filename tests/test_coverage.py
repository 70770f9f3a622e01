"""Planning: performance gaps, the travel model, modelled coverage, what-if and siting.

Every number is checked against an independent computation written here (numpy nearest-rank,
scipy's binomial, pyproj distances, brute force over subsets)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import polars as pl
import pytest
from conftest import copy_store, examples
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from scipy.stats import binom

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.analysis.coverage import Coverage, read_station_frame
from dispatch_analytics.analysis.gaps import Gaps
from dispatch_analytics.analysis.siting import Siting, solve_mclp
from dispatch_analytics.analysis.travel_model import TravelModel, quantile_fit
from dispatch_analytics.analysis.whatif import WhatIf, parse_lonlat
from dispatch_analytics.cli import main
from dispatch_analytics.errors import CoverageError, ZoneError
from dispatch_analytics.spatial.stations import load_stations

TOWN = Path(__file__).parent / "data" / "coverage"
LAT0, LON0 = 40.0, -100.0
KM_LAT, KM_LON = 1 / 111.2, 1 / (111.2 * math.cos(math.radians(LAT0)))


@pytest.fixture(scope="module")
def town(town_store, tmp_path_factory) -> Path:
    """The fixed town (tests/data/coverage): 5 zones, 3 stations, 4 units, 151 calls; a copy
    of the session's (conftest.py ``town_store``: the same ingest, layers and travel model)."""
    return copy_store(town_store, tmp_path_factory.mktemp("town") / "store")


# ----------------------------------------------------------------------------------- gaps
def _expected_gap(values: list[float], target: float, min_n: int = 30):
    """Independent: numpy nearest-rank, scipy binomial order-statistic CI, the status."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return dict(n=0, p=None, lo=None, hi=None, comp=None, over=0, status="too few calls")
    p = float(x[math.ceil(0.9 * n) - 1])
    cdf = binom.cdf(np.arange(0, n + 1), n, 0.9)  # cdf[k] = B(k)
    a = 0.025
    lo_rank = max([r for r in range(1, n + 2) if cdf[r - 1] <= a + 1e-9], default=0)
    hi_rank = min([r for r in range(1, n + 2) if cdf[r - 1] >= 1 - a - 1e-9], default=n + 1)
    lo = float(x[lo_rank - 1]) if 1 <= lo_rank <= n else None
    hi = float(x[hi_rank - 1]) if 1 <= hi_rank <= n else None
    comp = float(np.mean(x <= target))
    if n < min_n:
        status = "too few calls"
    elif (lo if lo is not None else -np.inf) <= target < (hi if hi is not None else np.inf):
        status = "at risk"
    else:
        status = "meeting" if hi <= target else "failing"
    return dict(n=n, p=p, lo=lo, hi=hi, comp=comp, over=int((x > target).sum()), status=status)


def test_gaps_equal_an_independent_computation(town):
    calls = pl.read_csv(TOWN / "town_calls.csv", try_parse_dates=True)
    travel = calls.with_columns(((pl.col("arrv") - pl.col("enrt")).dt.total_seconds()).alias("t"))
    zone = ((travel["lon"] - LON0) / KM_LON).floor().cast(pl.Int64) + 1
    travel = travel.with_columns(("Z" + zone.cast(pl.String)).alias("zone"))
    g = Gaps.from_store(Store(town), layer="town", target_s=240)
    assert g.table.height == 5
    got = {r["zone_id"]: r for r in g.table.to_dicts()}
    for z in ["Z1", "Z2", "Z3", "Z4", "Z5"]:
        e = _expected_gap(travel.filter(pl.col("zone") == z)["t"].to_list(), 240)
        r = got[z]
        assert (r["n"], r["n_over_target"], r["status"]) == (e["n"], e["over"], e["status"]), z
        assert r["p_value_s"] == e["p"] and r["ci_low_s"] == e["lo"] and r["ci_high_s"] == e["hi"]
        assert (
            r["compliance"] == pytest.approx(e["comp"])
            if e["comp"] is not None
            else (r["compliance"] is None)
        )
    assert [got[z]["status"] for z in ["Z1", "Z2", "Z3", "Z4", "Z5"]] == [
        "meeting",
        "at risk",
        "failing",
        "too few calls",
        "too few calls",
    ]
    # ranked by calls over target
    assert g.table["zone_id"].to_list()[0] == "Z3" and g.table["rank"].to_list() == [1, 2, 3, 4, 5]
    assert g.status_counts() == {"meeting": 1, "at risk": 1, "failing": 1, "too few calls": 2}
    gdf = g.to_geodataframe()
    assert isinstance(gdf, gpd.GeoDataFrame) and len(gdf) == 5 and gdf.crs.to_epsg() == 4326
    assert g.metadata["date_range"]["incidents"] == 151 and g.metadata["target_s"] == 240


def test_gaps_default_target_comes_from_the_profile(town):
    g = Gaps.from_store(Store(town))  # the only layer, nfpa1710 travel: 240 s at p90
    assert (g.layer, g.target_s, g.percentile) == ("town", 240.0, 90.0)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "240", True])
def test_gaps_target_must_be_positive(town, bad):
    with pytest.raises(CoverageError, match=r"`target_s` must be a positive number of seconds"):
        Gaps.from_store(Store(town), target_s=bad)


def test_gaps_layer_errors(town, tmp_path):
    with pytest.raises(ZoneError, match=r"`layer` 'nope' is not loaded; loaded layers: town"):
        Gaps.from_store(Store(town), layer="nope")
    empty = gpd.GeoDataFrame(
        {"layer": [], "zone_id": [], "name": [], "density_class": [], "area_km2": []},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
    )
    root = tmp_path / "s"
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    empty.to_parquet(root / "spatial" / "zones" / "hollow.parquet")
    with pytest.raises(CoverageError, match=r"layer 'hollow' has no zones; reload it"):
        Gaps.from_store(Store(root), layer="hollow")
    with pytest.raises(CoverageError, match=r"`metric`|unknown metric"):
        Gaps.from_store(Store(town), metric="warp_speed", target_s=240)


# ---------------------------------------------------------------------------- travel model
def _synthetic_calls(n, speed_mps, circuity, intercept_s, seed, outlier_share=0.1):
    """Calls generated with a known speed and circuity: travel = a + d c / v, times
    lognormal noise (median 1), plus outliers (units not at their station: 2-4x slower)."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(200, 6000, n)
    t = (intercept_s + d * circuity / speed_mps) * np.exp(rng.normal(0, 0.15, n))
    out = rng.random(n) < outlier_share
    t[out] *= rng.uniform(2, 4, out.sum())
    hours = rng.integers(0, 24, n)
    return pl.DataFrame({"travel_s": t, "distance_m": d, "local_hour": hours})


def test_travel_model_recovers_known_speed_and_circuity():
    speed, circuity, a = 12.0, 1.35, 40.0  # 43.2 km/h road speed
    obs = _synthetic_calls(4000, speed, circuity, a, seed=5)
    m = TravelModel.from_frame(obs, seed=3, circuity=circuity)
    b = m.bands["all"]
    # stated error: slope (circuity / speed) within 3%, intercept within 8 s
    assert b.slope_s_per_m == pytest.approx(circuity / speed, rel=0.03)
    assert b.intercept_s == pytest.approx(a, abs=8)
    assert m.speed_kph == pytest.approx(speed * 3.6, rel=0.03)
    assert m.circuity == circuity
    # held-out error is measured, not assumed: compare with an independent computation
    h = m.holdout
    assert h["n"] > 600 and h["n_train"] + h["n"] == m.n_used
    assert 0 < h["median_abs_error_s"] < 120 and 0 < h["median_abs_pct_error"] < 0.3
    # the p90 line lies above the median line
    assert b.predict(np.array([3000.0]), 90)[0] > b.predict(np.array([3000.0]))[0]


def test_only_the_ratio_is_identifiable_without_a_network():
    obs = _synthetic_calls(3000, 12.0, 1.35, 40.0, seed=9)
    m1 = TravelModel.from_frame(obs, circuity=1.0)
    m2 = TravelModel.from_frame(obs, circuity=1.6)
    d = np.array([500.0, 2500.0])
    assert np.allclose(m1.predict(d), m2.predict(d))
    assert m2.speed_kph == pytest.approx(1.6 * m1.speed_kph)


def test_hour_bands_are_fitted_separately():
    day = _synthetic_calls(3000, 8.0, 1.3, 40.0, seed=1).filter(pl.col("local_hour") >= 7)
    night = _synthetic_calls(3000, 16.0, 1.3, 40.0, seed=2).filter(pl.col("local_hour") <= 6)
    m = TravelModel.from_frame(pl.concat([day, night]), circuity=1.3)
    assert m.bands["night"].slope_s_per_m == pytest.approx(1.3 / 16.0, rel=0.06)
    assert m.bands["midday"].slope_s_per_m == pytest.approx(1.3 / 8.0, rel=0.06)
    assert m.predict([2000.0], hour=3)[0] < m.predict([2000.0], hour=12)[0]


def test_sparse_bands_fall_back_to_the_pooled_fit():
    obs = _synthetic_calls(400, 12.0, 1.3, 40.0, seed=4).with_columns(
        pl.when(pl.col("local_hour") <= 6).then(3).otherwise(12).alias("local_hour")
    )
    m = TravelModel.from_frame(obs, min_band_n=10_000)
    assert all(b.pooled for k, b in m.bands.items() if k != "all")
    assert m.bands["night"].slope_s_per_m == m.bands["all"].slope_s_per_m


def test_outlier_rule_and_exclusions_are_counted():
    obs = pl.DataFrame(
        {
            "travel_s": [100.0, 2.0, 5000.0, 30.0, None, 100.0] + [100.0 + i for i in range(20)],
            "distance_m": [500.0, 500.0, 500.0, 3000.0, 500.0, None] + [500.0] * 20,
            "local_hour": [1] * 26,
            "reason": [None, None, None, None, None, None] + [None] * 18 + ["unknown_station"] * 2,
        }
    )
    m = TravelModel.from_frame(obs)
    assert m.excluded == {
        "outlier_travel_range": 2,
        "outlier_speed": 1,
        "no_travel_time": 1,
        "no_coordinates": 1,
        "unknown_station": 2,
    }
    assert m.n_used == 19


def test_quantile_fit_is_the_check_loss_minimum():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 40)
    y = 3 + 2 * x + rng.standard_t(2, 40)
    for q in (0.5, 0.9):
        a, b = quantile_fit(x, y, q)

        def loss(a, b, q=q):
            r = y - a - b * x
            return float(np.sum(r * (q - (r < 0))))

        # the exact optimum of a 2-parameter quantile regression passes through 2 points
        best = min(
            loss(*np.linalg.solve([[1, x[i]], [1, x[j]]], [y[i], y[j]]))
            for i, j in itertools.combinations(range(40), 2)
            if x[i] != x[j]
        )
        assert loss(a, b) == pytest.approx(best, rel=1e-6, abs=1e-6)


def test_quantile_fit_keeps_coefficients_non_negative():
    x = np.linspace(0, 10, 50)
    a, b = quantile_fit(x, 100 - 5 * x)
    assert b == 0 and a == pytest.approx(75, abs=3)
    a, b = quantile_fit(x, -20 + 3 * x)
    assert a == 0 and b > 0


def test_model_options_and_too_little_data():
    obs = _synthetic_calls(50, 12.0, 1.3, 40.0, seed=1)
    with pytest.raises(CoverageError, match=r"`circuity` must be a number from 1 to 3"):
        TravelModel.from_frame(obs, circuity=0.5)
    with pytest.raises(CoverageError, match=r"`test_share` must be in \[0, 1\)"):
        TravelModel.from_frame(obs, test_share=1.5)
    with pytest.raises(CoverageError, match=r"only 5 usable calls .* load units"):
        TravelModel.from_frame(obs.head(5))


def test_model_from_store_save_load(town, tmp_path):
    m = TravelModel.load(town)
    assert m.n_used == 151 and m.excluded == {}
    assert m.metadata["date_range"]["incidents"] == 151
    m2 = TravelModel.from_frame(_synthetic_calls(300, 12, 1.3, 40, seed=2))
    m2.save(tmp_path)
    back = TravelModel.load(tmp_path)
    assert back.bands == m2.bands and back.holdout == m2.holdout
    with pytest.raises(CoverageError, match=r"no travel model in .*`dispatch coverage fit`"):
        TravelModel.load(tmp_path / "none")
    (tmp_path / "models" / "travel_model.json").write_text("{broken")
    with pytest.raises(CoverageError, match=r"cannot read the travel model .* refit it"):
        TravelModel.load(tmp_path)


def test_model_excludes_units_without_home_station(tmp_path):
    root = tmp_path / "s"
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    load_stations(root, TOWN / "town_stations.csv")
    with pytest.raises(CoverageError, match=r"only 0 usable calls .*no_home_station 151"):
        TravelModel.from_store(Store(root))


# ------------------------------------------------------------------------------ coverage
def _model(speed=10.0, a=30.0) -> TravelModel:
    obs = pl.DataFrame(
        {
            "travel_s": [a + d / speed for d in np.linspace(100, 5000, 60)],
            "distance_m": list(np.linspace(100, 5000, 60)),
            "local_hour": [12] * 60,
        }
    )
    return TravelModel.from_frame(obs, test_share=0.0, circuity=1.0)


def test_coverage_equals_an_independent_computation(town):
    cov = Coverage.from_store(Store(town), target_s=120, resolution=9, layer="town")
    cells = cov.cells
    st_ = read_station_frame(town)
    geod = Geod(ellps="WGS84")
    m = cov.model
    lat, lon = cells["latitude"].to_numpy(), cells["longitude"].to_numpy()
    d = np.array(
        [
            min(
                geod.inv(lo, la, s_lo, s_la)[2]
                for s_la, s_lo in st_.select("latitude", "longitude").iter_rows()
            )
            for la, lo in zip(lat, lon, strict=True)
        ]
    )
    b = m.bands["all"]
    travel = b.intercept_s + b.slope_s_per_m * d
    assert np.allclose(cells["travel_s"].to_numpy(), travel, rtol=0.005)
    covered = travel <= 120
    sure = np.abs(travel - 120) > 1  # cells within a second of the target may differ
    assert (cells["covered"].to_numpy()[sure] == covered[sure]).all()
    assert cells["demand"].sum() + cov.summary["demand_outside_area"] == 151
    s = cov.summary
    assert s["covered_share"] == pytest.approx(s["covered_demand"] / s["total_demand"])
    assert s["covered_demand"] == cells.filter(pl.col("covered"))["demand"].sum()
    assert s["n_stations"] == 3 and s["target_s"] == 120
    assert s["area_km2"] == pytest.approx(5.0, rel=0.15)
    gdf = cov.to_geodataframe()
    assert len(gdf) == cells.height and gdf.crs.to_epsg() == 4326
    un = cov.uncovered_area()
    assert un["demand"].sum() == s["uncovered_demand"]
    assert un["area_km2"].sum() == pytest.approx(s["uncovered_area_km2"])


def test_coverage_over_the_incidents_extent(town):
    cov = Coverage.from_store(Store(town), target_s=240, resolution=10)
    assert cov.metadata["service_area"] == "convex hull of the incidents"
    assert cov.summary["total_demand"] > 130
    assert cov.summary["total_demand"] + cov.summary["demand_outside_area"] == 151


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_s": -1}, r"`target_s` must be a positive number"),
        ({"resolution": 3}, r"`resolution` must be an H3 resolution from 5 to 12"),
        ({"layer": "nope"}, r"`layer` 'nope' is not loaded"),
        ({"quantile": 75}, r"`quantile` must be 50 or 90"),
    ],
)
def test_coverage_bad_arguments(town, kwargs, match):
    with pytest.raises((CoverageError, ZoneError), match=match):
        Coverage.from_store(Store(town), **{"layer": "town", **kwargs})


def test_coverage_needs_stations(tmp_path):
    root = tmp_path / "s"
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    with pytest.raises(CoverageError, match=r"no stations are loaded; load them with"):
        Coverage.from_store(Store(root), model=_model())


# ------------------------------------------------------------------------------ what-if
@pytest.fixture(scope="module")
def base(town) -> Coverage:
    return Coverage.from_store(
        Store(town), target_s=90, resolution=10, layer="town", model=_model()
    )


def test_adding_at_the_most_uncovered_demand_increases_coverage(base):
    un = base.cells.filter(~pl.col("covered")).sort("demand", descending=True)
    assert un.height and un["demand"][0] > 0
    top = un.row(0, named=True)
    wi = WhatIf.from_coverage(base, add=[(top["longitude"], top["latitude"])])
    assert wi.after.summary["covered_demand"] > wi.before.summary["covered_demand"]
    assert wi.delta["covered_demand"] == (
        wi.after.summary["covered_demand"] - wi.before.summary["covered_demand"]
    )
    assert wi.after.summary["n_stations"] == 4
    ch = wi.changed_cells
    assert top["h3_cell"] in ch["h3_cell"].to_list()
    assert ch.filter(pl.col("covered_after") & ~pl.col("covered_before")).height > 0
    d = wi.to_dict()
    assert set(d) >= {"before", "after", "delta"} and d["before"]["target_s"] == 90
    gdf = wi.to_geodataframe()
    assert (gdf["change"] == "newly covered").sum() > 0


@settings(max_examples=examples(30), deadline=None)
@given(
    close=st.lists(st.sampled_from(["S1", "S2", "S3"]), min_size=1, max_size=2, unique=True),
    target=st.floats(30, 600),
)
def test_closing_stations_never_increases_coverage(base, close, target):
    before = Coverage.evaluate(base.grid, base.stations, base.model, target)
    wi = WhatIf.from_coverage(before, close=close)
    assert wi.after.summary["covered_demand"] <= before.summary["covered_demand"]
    assert (wi.after.cells["travel_s"] >= before.cells["travel_s"] - 1e-9).all()


@settings(max_examples=examples(30), deadline=None)
@given(fx=st.floats(0.05, 4.95), fy=st.floats(0.05, 0.95), target=st.floats(30, 600))
def test_adding_a_station_never_decreases_coverage(base, fx, fy, target):
    before = Coverage.evaluate(base.grid, base.stations, base.model, target)
    wi = WhatIf.from_coverage(before, add=[(LON0 + fx * KM_LON, LAT0 + fy * KM_LAT)])
    assert wi.after.summary["covered_demand"] >= before.summary["covered_demand"]


def test_moving_a_station(base):
    wi = WhatIf.from_coverage(base, move={"S1": (LON0 + 4.5 * KM_LON, LAT0 + 0.5 * KM_LAT)})
    after = wi.after.stations.filter(pl.col("station_id") == "S1").row(0, named=True)
    assert after["longitude"] == pytest.approx(LON0 + 4.5 * KM_LON)
    assert wi.after.summary["n_stations"] == 3


def test_whatif_errors_name_the_item_and_the_fix(base):
    inside = (LON0 + 0.5 * KM_LON, LAT0 + 0.5 * KM_LAT)
    with pytest.raises(
        CoverageError,
        match=r"new station at -99\.000000,41\.000000 is outside"
        r" the service area; pick a point inside it",
    ):
        WhatIf.from_coverage(base, add=[(-99.0, 41.0)])
    with pytest.raises(
        CoverageError,
        match=r"`--move-station`: unknown station id\(s\) 'S7'; "
        r"loaded stations: S1, S2, S3",
    ):
        WhatIf.from_coverage(base, move={"S7": inside})
    with pytest.raises(CoverageError, match=r"`--close-station`: unknown station id\(s\) 'X'"):
        WhatIf.from_coverage(base, close=["X"])
    with pytest.raises(CoverageError, match=r"closing every station leaves none"):
        WhatIf.from_coverage(base, close=["S1", "S2", "S3"])
    with pytest.raises(CoverageError) as exc:  # every problem at once
        WhatIf.from_coverage(base, add=[(-99.0, 41.0)], close=["X"])
    assert len(exc.value.problems) == 2
    with pytest.raises(CoverageError, match=r"`--add-station` 'abc' is not LON,LAT"):
        parse_lonlat("abc")
    with pytest.raises(CoverageError, match=r"is not a longitude,latitude pair"):
        parse_lonlat("40,-100")


# ------------------------------------------------------------------------------ siting
def _brute_force(covers, w, k, fixed):
    cand = [j for j in range(covers.shape[1]) if not fixed[j]]
    best = -1.0
    for sub in itertools.combinations(cand, k):
        open_ = fixed.copy()
        open_[list(sub)] = True
        best = max(best, float(w[covers[:, open_].any(axis=1)].sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mclp_equals_brute_force_and_keeps_existing_stations(seed):
    rng = np.random.default_rng(seed)
    covers = rng.random((9, 7)) < 0.3
    w = rng.integers(1, 20, 9).astype(float)
    fixed = np.zeros(7, dtype=bool)
    fixed[[0, 3]] = True
    chosen, optimal = solve_mclp(covers, w, 2, fixed, time_limit_s=20)
    assert optimal and chosen[fixed].all() and chosen.sum() == 4
    got = float(w[covers[:, chosen].any(axis=1)].sum())
    assert got == _brute_force(covers, w, 2, fixed)


def test_siting_on_the_town(base):
    s = Siting.from_coverage(base, 2, time_limit_s=30)
    assert s.sites.height == 2 and s.proven_optimal
    assert s.sites["added_demand"].to_list() == sorted(
        s.sites["added_demand"].to_list(), reverse=True
    )
    a, b = s.whatif.after.summary, s.whatif.before.summary
    assert a["covered_demand"] - b["covered_demand"] == s.sites["added_demand"].sum() > 0
    # the existing stations stay, unchanged
    kept = s.whatif.after.stations.filter(~pl.col("station_id").str.starts_with("new_"))
    assert kept.equals(base.stations)
    # no single extra site does better than the first chosen one
    best_one = max(
        WhatIf.from_coverage(base, add=[(r["longitude"], r["latitude"])]).delta["covered_demand"]
        for r in base.cells.filter(pl.col("demand") > 0).to_dicts()
    )
    assert s.sites["added_demand"][0] >= best_one or a["covered_demand"] == a["total_demand"]
    assert len(s.to_geodataframe()) == 2


def test_siting_candidates_from_a_file(base, tmp_path):
    p = tmp_path / "cand.csv"
    pl.DataFrame(
        {
            "site_id": ["east", "far"],
            "latitude": [LAT0 + 0.5 * KM_LAT, LAT0 + 0.5 * KM_LAT],
            "longitude": [LON0 + 4.5 * KM_LON, LON0 + 3.5 * KM_LON],
        }
    ).write_csv(p)
    s = Siting.from_coverage(base, 1, candidates=str(p))
    assert s.sites["site_id"].to_list()[0] in ("east", "far")
    bad = tmp_path / "out.csv"
    pl.DataFrame({"site_id": ["moon"], "latitude": [41.0], "longitude": [-99.0]}).write_csv(bad)
    with pytest.raises(CoverageError, match=r"outside the service area \(moon\)"):
        Siting.from_coverage(base, 1, candidates=str(bad))
    with pytest.raises(CoverageError, match=r"`--new` must be a whole number"):
        Siting.from_coverage(base, 0)
    with pytest.raises(CoverageError, match=r"`--time-limit-s` must be a positive number"):
        Siting.from_coverage(base, 1, time_limit_s=0)


# ----------------------------------------------------------------------------------- CLI
def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, " ".join(cap.err.split())


def test_cli_gaps(town, capsys):
    code, out, err = run(
        capsys, "gaps", "--layer", "town", "--target-s", "240", "-f", "json", "--data-dir", town
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["status_counts"]["failing"] == 1 and len(d["zones"]) == 5
    code, out, _ = run(capsys, "gaps", "--data-dir", town)
    assert code == 0 and "at risk" in out and "Z3" in out
    code, out, _ = run(capsys, "gaps", "-f", "csv", "--data-dir", town)
    assert code == 0 and out.splitlines()[0].startswith("rank,zone_id,name,n,")


@pytest.mark.slow  # three commands end to end; fast: test_cli_gaps, test_cli_csv_outputs
def test_cli_fit_coverage_whatif_site(town, capsys):
    code, out, err = run(capsys, "coverage", "fit", "-f", "json", "--seed", "2", "--data-dir", town)
    assert code == 0, err
    d = json.loads(out)
    assert d["n_used"] == 151 and "median_abs_error_s" in d["holdout"]
    code, out, _ = run(capsys, "coverage", "fit", "--data-dir", town)
    assert code == 0 and "held-out error" in out
    code, out, err = run(
        capsys,
        "coverage",
        "--layer",
        "town",
        "--resolution",
        "10",
        "-f",
        "json",
        "--data-dir",
        town,
    )
    assert code == 0, err
    c = json.loads(out)
    assert {"covered_share", "covered_demand", "total_demand", "target_s"} <= set(c)
    code, out, _ = run(capsys, "coverage", "--layer", "town", "--data-dir", town)
    assert code == 0 and "modelled coverage at 4:00" in out
    x, y = LON0 + 4.5 * KM_LON, LAT0 + 0.5 * KM_LAT
    code, out, err = run(
        capsys,
        "whatif",
        "--layer",
        "town",
        "--target-s",
        "120",
        "--add-station",
        f"{x},{y}",
        "--move-station",
        "S1",
        f"{x},{y}",
        "--close-station",
        "S2",
        "-f",
        "json",
        "--data-dir",
        town,
    )
    assert code == 0, err
    w = json.loads(out)
    assert set(w) >= {"before", "after", "delta"} and w["after"]["n_stations"] == 3
    code, out, err = run(
        capsys,
        "site",
        "--new",
        "1",
        "--layer",
        "town",
        "--target-s",
        "200",
        "-f",
        "json",
        "--data-dir",
        town,
    )
    assert code == 0, err
    assert len(json.loads(out)["sites"]) == 1
    code, out, err = run(
        capsys, "site", "--new", "1", "--layer", "town", "--target-s", "100", "--data-dir", town
    )
    assert code == 0 and "no candidate site reaches uncovered demand" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["gaps", "--target-s", "-5"], 1, "`target_s` must be a positive number of seconds"),
        (["gaps", "--target-s", "abc"], 2, "--target-s"),
        (["gaps", "--layer", "nope"], 1, "`layer` 'nope' is not loaded; loaded layers: town"),
        (["coverage", "--target-s", "0", "--layer", "town"], 1, "must be a positive number"),
        (
            ["whatif", "--layer", "town", "--close-station", "S9"],
            1,
            "`--close-station`: unknown station id(s) 'S9'; loaded stations: S1, S2, S3",
        ),
        (
            ["whatif", "--layer", "town", "--move-station", "S7", "-99.99,40.004"],
            1,
            "`--move-station`: unknown station id(s) 'S7'",
        ),
        (
            ["whatif", "--layer", "town", "--add-station", "-99,41"],
            1,
            "outside the service area; pick a point inside it",
        ),
        (["whatif", "--layer", "town", "--move-station", "S1"], 2, "takes ID LON,LAT"),
        (["whatif", "--layer", "town"], 2, "give at least one change"),
        (["whatif", "--layer", "town", "--add-station", "x"], 1, "is not LON,LAT"),
        (["site", "--new", "0", "--layer", "town"], 1, "`--new` must be a whole number"),
        (
            ["site", "--new", "1", "--layer", "town", "--candidates", "nofile.csv"],
            1,
            "neither 'cells' nor an existing point file",
        ),
    ],
)
def test_cli_errors(town, capsys, args, code, needle):
    got, _, err = run(capsys, *args, "--data-dir", town)
    assert got == code and needle in err, err


def test_cli_coverage_without_a_model(tmp_path, capsys):
    root = tmp_path / "s"
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    code, _, err = run(capsys, "coverage", "--data-dir", root)
    assert code == 1 and "fit one first with `dispatch coverage fit`" in err
    code, _, err = run(capsys, "coverage", "fit", "--data-dir", root)
    assert code == 1 and "no_home_station 151" in err


# ------------------------------------------------------------------------ export / map kinds
@pytest.mark.parametrize("ext", ["gpkg", "shp", "geojson", "parquet", "csv", "xlsx"])
def test_export_coverage_every_format_round_trips(town, capsys, tmp_path, ext):
    from dispatch_analytics.io.export import read_export, read_export_metadata

    out = tmp_path / f"cov.{ext}"
    code, _, err = run(
        capsys,
        "export",
        "coverage",
        "--layer",
        "town",
        "--target-s",
        "200",
        "-p",
        "resolution=10",
        "--out",
        out,
        "--data-dir",
        town,
    )
    assert code == 0, err
    back = read_export(out)
    cov = Coverage.from_store(Store(town), target_s=200, resolution=10, layer="town")
    assert len(back) == cov.cells.height
    assert sorted(back["h3_cell"]) == sorted(cov.cells["h3_cell"].to_list())
    assert int(back["demand"].astype(int).sum()) == cov.summary["total_demand"]
    meta = read_export_metadata(out)
    assert "covered_share" in json.dumps(meta) and "travel_s" in json.dumps(meta)


@pytest.mark.slow  # ~10 s: every export format and a map
def test_export_and_map_gaps(town, capsys, tmp_path):
    from dispatch_analytics.io.export import read_export

    out = tmp_path / "gaps.shp"
    code, _, err = run(
        capsys,
        "export",
        "gaps",
        "--layer",
        "town",
        "--metric",
        "travel",
        "--target-s",
        "240",
        "--out",
        out,
        "--data-dir",
        town,
    )
    assert code == 0, err
    back = read_export(out)
    g = Gaps.from_store(Store(town), layer="town", target_s=240)
    assert sorted(back["zone_id"]) == sorted(g.table["zone_id"].to_list())
    assert dict(zip(back["zone_id"], back["status"], strict=True))["Z3"] == "failing"
    for by in ("status", "p90", "compliance"):
        png = tmp_path / f"gaps_{by}.png"
        code, _, err = run(
            capsys,
            "map",
            "gaps",
            "--layer",
            "town",
            "--metric",
            "travel",
            "--by",
            by,
            "--out",
            png,
            "--data-dir",
            town,
        )
        assert code == 0 and png.stat().st_size > 10_000, err
    html = tmp_path / "cov.html"
    code, _, err = run(
        capsys,
        "map",
        "coverage",
        "--layer",
        "town",
        "--by",
        "covered",
        "--out",
        html,
        "--data-dir",
        town,
    )
    assert code == 0, err
    assert "covered" in html.read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "coverage", "-p", "colour=red"], "coverage takes `--param` resolution"),
        (["export", "coverage", "-p", "resolution=x"], "`--param` resolution='x' must be"),
        (["export", "gaps", "-p", "resolution=9"], "gaps takes `--param` priority"),
        (["export", "coverage", "-p", "resolution=3"], "`resolution` must be an H3 resolution"),
    ],
)
def test_export_kind_errors(town, capsys, tmp_path, args, needle):
    code, _, err = run(
        capsys, *args, "--layer", "town", "--out", tmp_path / "x.gpkg", "--data-dir", town
    )
    assert code == 1 and needle in err, err


def test_cli_csv_outputs(town, capsys):
    code, out, err = run(
        capsys,
        "site",
        "--new",
        "1",
        "--layer",
        "town",
        "--target-s",
        "200",
        "-f",
        "csv",
        "--data-dir",
        town,
    )
    assert code == 0, err
    assert (
        out.splitlines()[0] == "rank,site_id,h3_cell,latitude,longitude,added_demand,covered_share"
    )
    code, out, err = run(
        capsys,
        "whatif",
        "--layer",
        "town",
        "--close-station",
        "S2",
        "-f",
        "csv",
        "--data-dir",
        town,
    )
    assert code == 0, err
    assert out.splitlines()[0].startswith("h3_cell,latitude,longitude,demand,station_before")
    code, out, err = run(capsys, "coverage", "--layer", "town", "-f", "csv", "--data-dir", town)
    assert code == 0 and out.splitlines()[0].startswith("h3_cell,latitude,longitude,area_km2")
