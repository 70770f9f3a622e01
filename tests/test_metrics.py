"""Fractiles, CIs and compliance: Python, Polars, DuckDB SQL (queries/) and the engine agree,
and agree with independent numpy / scipy / pandas computations."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import metrics_helpers as H  # noqa: E402
import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import copy_store, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from stats_reference import (
    CIRanks,
    fractile_flag,
    fractiles_polars,
    nearest_rank,
    nr_rank,
    order_statistic_ci,
)

from dispatch_analytics import Store
from dispatch_analytics.errors import DispatchError
from dispatch_analytics.metrics.fractiles import Fractiles, MetricError, first_due_comparison
from dispatch_analytics.metrics.queries import install_macros, prepare, run_query

PCTS = [1, 5, 10, 25, 33.3, 50, 70, 75, 80, 90, 95, 97.5, 99, 99.9, 100]
# numpy's inverted_cdf equals nearest-rank except when p * n / 100 is a whole number that
# floating point overshoots: p = 99.9 with n = 1000, 2000, ... (numpy then takes the next value)


# ------------------------------------------------------------------ nearest rank (pure Python)
def test_nr_rank_uses_exact_integer_arithmetic():
    # 0.7 * 10 = 7.000000000000001 in floating point: a naive ceil would give rank 8
    assert nr_rank(10, 70) == 7
    assert nr_rank(1000, 99.9) == 999
    assert nr_rank(3, 100) == 3
    assert nr_rank(1, 0.001) == 1
    assert nr_rank(0, 90) is None


@pytest.mark.parametrize("p", [0, -5, 100.5, "90", True, float("nan")])
def test_percentile_out_of_range_is_an_error(p):
    with pytest.raises(MetricError, match="percentile must be a number in \\(0, 100\\]"):
        nr_rank(10, p)


def test_nearest_rank_equals_numpy_inverted_cdf_exhaustively():
    for n in range(1, 1201):
        x = np.arange(1, n + 1, dtype=float)
        for p in PCTS:
            if p == 99.9 and n % 1000 == 0:
                continue  # numpy's floating-point slip, see test below
            assert nearest_rank(x, p) == np.percentile(x, p, method="inverted_cdf"), (n, p)


def test_numpy_inverted_cdf_floating_point_slip():
    x = np.arange(1, 1001, dtype=float)
    assert nearest_rank(x, 99.9) == 999.0  # rank ceil(0.999 * 1000) = 999
    assert np.percentile(x, 99.9, method="inverted_cdf") == 1000.0


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=80),
    st.sampled_from(PCTS + [12.5, 60, 66.6, 85]),
)
def test_nearest_rank_definition_and_numpy(values, p):
    v = nearest_rank(values, p)
    # the smallest observed value with at least p% of the values at or below it
    share = {x: sum(y <= x for y in values) / len(values) for x in set(values)}
    expected = min(x for x, s in share.items() if s * 100 >= p - 1e-9)
    assert v == expected
    assert v == np.percentile(np.array(values, dtype=float), p, method="inverted_cdf")


def test_nearest_rank_ties_n1_and_empty():
    assert nearest_rank([5, 5, 5, 7], 50) == 5
    assert nearest_rank([5, 5, 5, 7], 75) == 5
    assert nearest_rank([5, 5, 5, 7], 76) == 7
    assert nearest_rank([5, 5, 5, 7], 90) == 7
    for p in (1, 50, 90, 100):
        assert nearest_rank([42.0], p) == 42.0
    assert nearest_rank([], 90) is None
    assert nearest_rank([None, float("nan")], 90) is None
    assert nearest_rank([3, None, 1, float("nan"), 2], 50) == 2


# ---------------------------------------------------------------------------- order statistics
def _scipy_ranks(n: int, p: float, conf: float = 0.95) -> CIRanks:
    a = (1 - conf) / 2
    cdf = scipy_stats.binom.cdf(np.arange(n + 1), n, p / 100)  # cdf[k] = B(k)
    low = int(np.sum(cdf <= a))  # largest l with B(l - 1) <= a
    ok = np.nonzero(cdf >= 1 - a)[0]
    high = int(ok[0]) + 1  # smallest u with B(u - 1) >= 1 - a
    return CIRanks(low if low >= 1 else None, high if high <= n else None)


@pytest.mark.parametrize("p", [10, 25, 50, 80, 90, 95, 99])
def test_ci_ranks_match_scipy_binomial(p):
    for n in range(1, 301):
        assert order_statistic_ci(n, p) == _scipy_ranks(n, p), n


def test_ci_ranks_sql_macro_equals_python():
    con = duckdb.connect()
    install_macros(con)
    ps = [5.0, 10.0, 25.0, 33.3, 50.0, 75.0, 80.0, 90.0, 95.0, 97.5, 99.0]
    rows = con.execute(
        "select n, pct, ci_low_rank, ci_high_rank from da_os_ci_ranks(("
        "select list({'n': n, 'pct': p}) from range(1, 301) a(n), unnest($ps) b(p)))",
        {"ps": ps},
    ).fetchall()
    assert len(rows) == 300 * len(ps)
    for n, p, lo, hi in rows:
        assert CIRanks(lo, hi) == order_statistic_ci(n, p), (n, p)


@pytest.mark.parametrize("p", [50, 90, 95])
def test_ci_coverage_and_tightness(p):
    q = p / 100
    for n in range(1, 301):
        lo, hi = order_statistic_ci(n, p)
        b = scipy_stats.binom.cdf
        low_b = 0.0 if lo is None else b(lo - 1, n, q)
        high_b = 1.0 if hi is None else b(hi - 1, n, q)
        assert high_b - low_b >= 0.95 - 1e-9
        if lo is not None:  # a larger l would break the lower tail
            assert lo == n or b(lo, n, q) > 0.025
        if hi is not None:
            assert hi == 1 or b(hi - 2, n, q) < 0.975


def test_ci_null_when_sample_too_small():
    # 90th percentile: the upper bound needs 0.9^n <= 0.025, i.e. n >= 36
    assert order_statistic_ci(35, 90).high is None
    assert order_statistic_ci(36, 90).high is not None
    assert order_statistic_ci(1, 50) == CIRanks(None, None)
    assert order_statistic_ci(0, 90) == CIRanks(None, None)
    assert order_statistic_ci(50, 100) == CIRanks(None, None)
    assert fractile_flag(0, 30, None, None) == "no_data"
    assert fractile_flag(10, 30, 1.0, 2.0) == "small_sample"
    assert fractile_flag(32, 30, 1.0, None) == "ci_unbounded"
    assert fractile_flag(100, 30, 1.0, 2.0) is None
    with pytest.raises(MetricError, match="conf must be in"):
        order_statistic_ci(10, 50, conf=1.5)


# ------------------------------------------------------------------------------- Polars path
def test_fractiles_polars_edge_cases():
    df = pl.DataFrame(
        {
            "g": ["late"] * 3 + ["ontime"] * 3 + ["empty"] * 2 + ["one"],
            "v": [500.0, 600.0, 700.0, 10.0, 20.0, 20.0, None, None, 42.0],
        }
    )
    t = fractiles_polars(df, "v", by=["g"], target_s=480).sort("g")
    r = {row["g"]: row for row in t.iter_rows(named=True)}
    assert r["late"]["compliance"] == 0.0 and r["late"]["met"] is False
    assert r["late"]["p90_s"] == 700.0 and r["late"]["flag"] == "small_sample"
    assert r["ontime"]["compliance"] == 1.0 and r["ontime"]["met"] is True
    assert r["ontime"]["p50_s"] == 20.0  # ties
    assert r["empty"]["n"] == 0 and r["empty"]["n_missing"] == 2
    assert r["empty"]["p90_s"] is None and r["empty"]["compliance"] is None
    assert r["empty"]["flag"] == "no_data"
    assert r["one"]["p50_s"] == r["one"]["p95_s"] == 42.0 and r["one"]["n"] == 1
    # no grouping: one row, even for no data
    one = fractiles_polars(df.head(0), "v", target_s=1)
    assert one.height == 1 and one["n"][0] == 0 and one["flag"][0] == "no_data"


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 40)), max_size=70),
    st.integers(0, 40),
    st.sampled_from([50, 80, 90, 95, 99, 33.3]),
)
def test_percentile_below_target_iff_compliance_at_least_p(values, target, p):
    df = pl.DataFrame({"v": pl.Series(values, dtype=pl.Float64)})
    r = fractiles_polars(df, "v", target_s=target, percentile=p).row(0, named=True)
    if r["n"] == 0:
        assert r["met"] is None and r["compliance"] is None
        return
    ok = sum(1 for v in values if v is not None and v <= target)
    assert r["compliance"] == ok / r["n"]
    assert r["met"] == (ok * 100 >= p * r["n"] - 1e-9)
    assert r["met"] == (r["compliance"] >= p / 100 - 1e-12)


# ------------------------------------------------- SQL (queries/) == engine == Polars, random data
def _random_incidents(draw_values, zones, minutes, tz):
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    n = len(draw_values)
    return pl.DataFrame(
        {
            "incident_id": [f"I{i:04d}" for i in range(n)],
            "call_category": ["ems" if i % 3 else "fire" for i in range(n)],
            "call_received_at": [base + dt.timedelta(minutes=m) for m in minutes],
            "timezone": [tz] * n,
            "total_response_s": pl.Series(draw_values, dtype=pl.Float64),
            "turnout_s": pl.Series(
                [None if v is None else v / 7 for v in draw_values], dtype=pl.Float64
            ),
        }
    ), pl.DataFrame(
        {
            "incident_id": [f"I{i:04d}" for i in range(n)],
            "layer": ["zl"] * n,
            "zone_id": pl.Series(zones, dtype=pl.String),
        }
    )


@st.composite
def _datasets(draw):
    n = draw(st.integers(0, 60))
    values = draw(
        st.lists(st.one_of(st.none(), st.integers(0, 900).map(float)), min_size=n, max_size=n)
    )
    zones = draw(st.lists(st.sampled_from(["A", "B", None]), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(0, 150 * 24 * 60), min_size=n, max_size=n))
    return values, zones, minutes


KEYS = ["zone_id", "period_start"]
EXACT = [
    "n",
    "n_missing",
    "p50_s",
    "p90_s",
    "p95_s",
    "percentile",
    "p_value_s",
    "ci_low_s",
    "ci_high_s",
    "target_s",
    "compliance",
    "met",
    "flag",
]


def _compare(a: pl.DataFrame, b: pl.DataFrame, keys: list[str], exact: list[str]) -> None:
    a = a.sort(keys, nulls_last=True)
    b = b.sort(keys, nulls_last=True)
    assert a.select(keys).to_dicts() == b.select(keys).to_dicts()
    for c in exact:
        assert a[c].to_list() == b[c].to_list(), c
    for x, y in zip(a["mean_s"].to_list(), b["mean_s"].to_list(), strict=True):
        assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-12)


@pytest.mark.slow  # ~14 s of hypothesis examples
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _datasets(),
    st.integers(0, 900),
    st.sampled_from([50, 80, 90, 95, 99, 33.3]),
    st.sampled_from(["month", "week", None]),
    st.integers(1, 12),
)
def test_sql_python_polars_identical(data, target, p, period, min_n):
    values, zones, minutes = data
    inc, iz = _random_incidents(values, zones, minutes, "America/Chicago")
    con = duckdb.connect()
    H.fake_catalog(con, inc, iz, zones=[("zl", "A"), ("zl", "B")])
    params = {
        "metric": "total_response",
        "layer": "zl",
        "period": period,
        "percentile": p,
        "target_s": target,
        "min_n": min_n,
    }
    sql = run_query(
        con,
        "fractile_compliance",
        {k: str(v) if v is not None else None for k, v in params.items()},
    )
    by = ("layer:zl", period) if period else ("layer:zl",)
    api = Fractiles.from_store(
        con,
        metric="total_response",
        by=by,
        target_s=target,
        percentile=p,
        profile=None,
        min_n=min_n,
    ).table
    rows = run_query(con, "response_intervals", {"layer": "zl"})
    if period:
        rows = rows.with_columns(
            pl.col("local_received_at")
            .dt.truncate({"month": "1mo", "week": "1w"}[period])
            .dt.date()
            .alias("period_start")
        )
    else:
        rows = rows.with_columns(pl.lit(None, pl.Date).alias("period_start"))
    pol = fractiles_polars(
        rows, "total_response_s", by=KEYS, target_s=target, percentile=p, min_n=min_n
    )
    if not period:
        api = api.with_columns(pl.lit(None, pl.Date).alias("period_start"))
    _compare(sql, pol, KEYS, EXACT)
    _compare(api.select(sql.columns), sql, KEYS, EXACT)
    # and by hand with numpy, per group
    for r in sql.iter_rows(named=True):
        grp = rows.filter(
            pl.col("zone_id").eq_missing(r["zone_id"])
            & pl.col("period_start").eq_missing(r["period_start"])
        )
        v = grp["total_response_s"].drop_nulls().to_numpy()
        if len(v):
            assert r["p_value_s"] == np.percentile(v, p, method="inverted_cdf")
            assert r["compliance"] == np.mean(v <= target)
            assert r["met"] == (r["compliance"] >= p / 100)


def test_sql_and_polars_all_late_all_on_time_empty_and_single():
    vals = [700.0, 800.0, 900.0, 10.0, 20.0, None, 30.0]
    zones = ["late", "late", "late", "ontime", "ontime", "empty", "single"]
    inc, iz = _random_incidents(vals, zones, [0, 1, 2, 3, 4, 5, 6], "UTC")
    con = duckdb.connect()
    H.fake_catalog(con, inc, iz)
    t = run_query(
        con, "fractile_compliance", {"metric": "total_response", "layer": "zl", "target_s": "480"}
    )
    r = {row["zone_id"]: row for row in t.iter_rows(named=True)}
    assert r["late"]["compliance"] == 0.0 and r["late"]["met"] is False
    assert r["ontime"]["compliance"] == 1.0 and r["ontime"]["met"] is True
    assert r["empty"]["n"] == 0 and r["empty"]["flag"] == "no_data"
    assert r["empty"]["p90_s"] is None and r["empty"]["compliance"] is None
    assert r["single"]["p50_s"] == r["single"]["p95_s"] == 30.0
    assert r["single"]["flag"] == "small_sample" and r["single"]["ci_low_s"] is None


# ------------------------------------------------------------------ engine on ingested stores
@pytest.fixture(scope="module")
def sample(two_agency_store, tmp_path_factory):
    store = Store(copy_store(two_agency_store, tmp_path_factory.mktemp("sample") / "store"))
    con = store.connect(read_only=False)
    H.add_zone_tables(con)
    prepare(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def fd_con(tmp_path_factory):
    store = H.small_store(tmp_path_factory.mktemp("fd") / "store", H.HERE / "first_due_erf.csv")
    con = store.connect(read_only=False)
    H.replace_table(
        con,
        "incident_zones",
        "select (select any_value(agency) from incidents) as agency, * from (values "
        "('F1', 'areas', 'S01'), ('F2', 'areas', 'S01'), ('F3', 'areas', 'S01'), "
        "('F4', 'areas', 'S02')) v(incident_id, layer, zone_id)",
    )
    H.replace_table(
        con,
        "zones",
        "select (select any_value(agency) from incidents) as agency, * from (values "
        "('areas', 'S01', 'one', 'urban', 1.0, null::blob), "
        "('areas', 'S02', 'two', 'suburban', 1.0, null::blob)) "
        "v(layer, zone_id, name, density_class, area_km2, geometry)",
    )
    yield con
    con.close()


def test_dst_spring_forward_local_hour_weekday_and_intervals(tmp_path):
    store = H.small_store(tmp_path / "store", H.HERE / "dst_spring_forward.csv")
    con = store.connect(read_only=False)
    rows = {
        r["incident_id"]: r for r in run_query(con, "response_intervals", {}).iter_rows(named=True)
    }
    assert (rows["D1"]["local_hour"], rows["D1"]["local_weekday"]) == (1, 7)  # 01:30 CST Sun
    assert (rows["D2"]["local_hour"], rows["D2"]["local_weekday"]) == (3, 7)  # 03:30 CDT Sun
    assert rows["D2"]["call_received_at"] - rows["D1"]["call_received_at"] == dt.timedelta(
        hours=1
    )  # 01:30 CST -> 03:30 CDT is one hour
    assert rows["D3"]["call_processing_s"] == 180.0  # 01:58 CST -> 03:01 CDT: 3 minutes
    assert (rows["D4"]["local_hour"], rows["D4"]["local_weekday"]) == (23, 6)
    assert rows["D4"]["local_date"] == dt.date(2024, 3, 9)
    # 23:30 CDT on 31 March is already 1 April in UTC: the local month is March
    assert rows["D5"]["local_date"] == dt.date(2024, 3, 31)
    f = Fractiles.from_store(
        con, metric="call_processing", by=("hour", "weekday", "month"), profile=None
    )
    got = {
        (r["hour"], r["weekday"], r["period_start"]): r["n"] for r in f.table.iter_rows(named=True)
    }
    march = dt.date(2024, 3, 1)
    assert got == {(1, 7, march): 2, (3, 7, march): 1, (23, 6, march): 1, (23, 7, march): 1}
    heat = run_query(con, "hour_weekday_heatmap", {"metric": "total_response"})
    assert heat.height == 168
    cell = heat.filter((pl.col("weekday") == 7) & (pl.col("hour") == 3)).row(0, named=True)
    assert cell["n"] == 1 and cell["p_value_s"] == 600.0
    assert heat.filter(pl.col("n") == 0)["flag"].unique().to_list() == ["no_data"]
    con.close()


def test_engine_matches_pandas_on_sample_city(sample):
    f = Fractiles.from_store(
        sample,
        agency="all",  # both agencies of the store, explicitly
        metric="total_response",
        by=("layer:station_areas", "month"),
        target_s=480,
        profile=None,
    )
    assert f.method == "nearest-rank" and f.start_field == "call_received_at"
    assert f.end_field == "on_scene_at"
    df = run_query(sample, "response_intervals", {"layer": "station_areas"}).to_pandas()
    df = df[df["timezone"] == "America/Chicago"]
    df["period_start"] = df["local_received_at"].dt.to_period("M").dt.start_time.dt.date
    t = f.table.filter(pl.col("zone_id").is_not_null())
    assert t.height > 50
    for r in t.iter_rows(named=True):
        v = (
            df[(df["zone_id"] == r["zone_id"]) & (df["period_start"] == r["period_start"])][
                "total_response_s"
            ]
            .dropna()
            .to_numpy()
        )
        assert r["n"] == len(v)
        if len(v):
            assert r["p90_s"] == np.percentile(v, 90, method="inverted_cdf")
            assert r["p50_s"] == np.percentile(v, 50, method="inverted_cdf")
            assert r["compliance"] == np.mean(v <= 480)
            lo, hi = _scipy_ranks(len(v), 90)
            s = np.sort(v)
            assert r["ci_low_s"] == (s[lo - 1] if lo else None)
            assert r["ci_high_s"] == (s[hi - 1] if hi else None)


def test_unit_level_and_profile_entries(sample):
    f = Fractiles.from_store(
        sample,
        agency="all",  # both agencies of the store, explicitly
        metric="turnout",
        level="unit",
        by=("unit_type",),
        profile=None,
        target_s=60,
        filters={"call_category": "ems"},
    )
    resp = (
        sample.execute("select unit_type, turnout_s from responses where call_category = 'ems'")
        .pl()
        .to_pandas()
    )
    for r in f.table.iter_rows(named=True):
        v = resp[resp["unit_type"] == r["unit_type"]]["turnout_s"].dropna().to_numpy()
        assert r["n"] == len(v)
        assert r["p90_s"] == np.percentile(v, 90, method="inverted_cdf")
    # nfpa1710 has two turnout targets: one row group each, with its own filter and target
    g = Fractiles.from_store(sample, agency="all", metric="turnout")
    assert g.table["standard"].to_list() == ["turnout_ems", "turnout_fire"]
    assert g.table["target_s"].to_list() == [60.0, 80.0]
    assert any("first-arriving unit" in n for n in g.notes)
    inc = sample.execute("select call_category, turnout_s from incidents").pl().to_pandas()
    ems = inc[inc["call_category"] == "ems"]["turnout_s"].dropna().to_numpy()
    fire = inc[inc["call_category"].isin(["fire", "other"])]["turnout_s"].dropna().to_numpy()
    assert g.table["n"].to_list() == [len(ems), len(fire)]
    assert g.table["p90_s"].to_list() == [
        np.percentile(ems, 90, method="inverted_cdf"),
        np.percentile(fire, 90, method="inverted_cdf"),
    ]
    # an entry name selects one entry
    h = Fractiles.from_store(sample, agency="all", metric="turnout_fire", percentiles=(50,))
    assert h.table.columns[:3] == ["n", "n_missing", "mean_s"] and "p50_s" in h.table.columns
    assert h.table["target_s"].to_list() == [80.0] and h.entries[0].key == "turnout_fire"
    # metadata names profile, timestamps and method
    md = g.metadata
    assert md["profile"] == "nfpa1710" and md["method"] == "nearest-rank"
    assert (md["start"], md["end"]) == ("dispatched_at", "enroute_at")


def test_first_due_travel_and_reliability(fd_con):
    fd = Fractiles.from_store(
        fd_con,
        metric="first_due_travel",
        station_layer="areas",
        by=("layer:areas",),
        profile=None,
        percentiles=(50, 100),
    )
    r = {x["zone_id"]: x for x in fd.table.iter_rows(named=True)}
    # S01: F1 E01 240 s, F2 T01 420 s, F3 E01 (dispatch tie with M01: unit id) 320 s
    assert r["S01"]["n"] == 3 and r["S01"]["p50_s"] == 320.0 and r["S01"]["p100_s"] == 420.0
    assert r["S02"]["n"] == 0 and r["S02"]["n_missing"] == 1  # E02 never arrived
    tot = Fractiles.from_store(
        fd_con,
        metric="first_due_total_response",
        station_layer="areas",
        profile=None,
        percentiles=(100,),
    )
    assert tot.table["p100_s"][0] == 540.0 and tot.table["n"][0] == 3
    rel = run_query(fd_con, "first_due_reliability", {"station_layer": "areas"})
    s1 = rel.filter(pl.col("zone_id") == "S01").row(0, named=True)
    assert (s1["n_incidents"], s1["n_arrived"], s1["n_first_due_arrived_first"]) == (3, 3, 1)
    assert s1["reliability"] == pytest.approx(1 / 3)
    s2 = rel.filter(pl.col("zone_id") == "S02").row(0, named=True)
    assert s2["n_arrived"] == 0 and s2["reliability"] is None and s2["n_first_due_assigned"] == 1
    cmp = first_due_comparison(fd_con, "areas", by=("layer:areas",), percentile=100)
    c = cmp.filter(pl.col("zone_id") == "S01").row(0, named=True)
    assert c["first_arriving_p_s"] == 320.0  # F1 210, F2 180, F3 320 (first-arriving units)
    assert c["first_due_p_s"] == 420.0 and c["difference_s"] == 100.0


def test_erf_assembly_and_demand_zones(fd_con):
    staffing = {"ENGINE": 4, "TRUCK": 4, "CHIEF": 1, "MEDIC": 2}
    f = Fractiles.from_store(
        fd_con,
        metric="erf_assembly",
        staffing=staffing,
        staff=10,
        target_s=500,
        profile=None,
        by=("call_category",),
        percentiles=(50, 90),
    )
    r = {x["call_category"]: x for x in f.table.iter_rows(named=True)}
    # F1: E02 10:05 (4), E01 10:06 (8), T01 10:08 (12 >= 10): 480 s; F2 only 8 staff: unmet
    assert (r["fire"]["n"], r["fire"]["n_unmet"], r["fire"]["p50_s"]) == (2, 1, 480.0)
    assert r["fire"]["p90_s"] == math.inf and r["fire"]["compliance"] == 0.5
    assert r["fire"]["mean_s"] == 480.0
    assert (r["ems"]["n"], r["ems"]["n_unmet"], r["ems"]["n_missing"]) == (1, 1, 1)
    t = Fractiles.from_store(
        fd_con,
        metric="erf_travel",
        staffing=staffing,
        staff=8,
        profile=None,
        percentiles=(50,),
        filters={"call_category": "fire"},
    )
    # from the first unit en route: F1 10:01:30 -> 10:06 (8 staff) = 270 s; F2 12:02 -> 12:09
    assert t.table["p50_s"][0] == 270.0 and t.table["n"][0] == 2
    # NFPA 1720: urban 15 staff in 540 s @90%; suburban zone has no fire call
    z = Fractiles.from_store(
        fd_con, metric="erf_assembly", profile="nfpa1720", density_layer="areas", staffing=staffing
    )
    rows = {x["density_class"]: x for x in z.table.iter_rows(named=True)}
    assert set(rows) == {"urban", "suburban", "rural", "remote"}
    assert rows["urban"]["n"] == 2 and rows["urban"]["target_s"] == 540.0
    assert rows["urban"]["p90_s"] == math.inf and rows["urban"]["compliance"] == 0.0
    assert rows["suburban"]["flag"] == "no_data" and rows["suburban"]["percentile"] == 80.0
    assert rows["remote"]["target_s"] is None
    assert rows["remote"]["target_note"] == "target_distance_dependent"


def test_filters_since_until_and_store_argument(sample):
    a = Fractiles.from_store(
        sample,
        agency="all",  # both agencies of the store, explicitly
        metric="call_processing",
        profile=None,
        filters={
            "since": "2024-06-01",
            "until": dt.datetime(2024, 7, 1),
            "hour": [8, 9],
            "priority": 1,
        },
    )
    n = sample.execute(
        "select count(call_processing_s) from incidents where call_received_at >= "
        "'2024-06-01'::timestamptz and call_received_at < '2024-07-01'::timestamptz and "
        "hour(call_received_at at time zone timezone) in (8, 9) and priority = '1'"
    ).fetchone()[0]
    assert a.table["n"][0] == n > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"metric": "response_time"},
            "unknown metric 'response_time'; valid metrics: incident level "
            "alarm_answering, call_processing",
        ),
        ({"metric": "alarm_answering", "level": "unit"}, "not available at level 'unit'"),
        ({"metric": "travel", "level": "engine"}, "unknown level 'engine'; valid levels: incident"),
        (
            {"by": ("layer:nowhere",)},
            "unknown layer 'nowhere'; valid layers: neighborhoods, station_areas",
        ),
        ({"by": ("fortnight",)}, "unknown grouping 'fortnight'; valid: layer:<name>"),
        ({"by": ("month", "week")}, "only one period"),
        ({"by": ("hour", "hour")}, "duplicate grouping"),
        ({"filters": {"zone": "A"}}, "unknown filter 'zone'; valid filters: agency, call_category"),
        ({"percentiles": (0,)}, "percentile must be a number"),
        ({"metric": "first_due_travel"}, "needs station_layer"),
        ({"metric": "first_due_travel", "station_layer": "x"}, "unknown station_layer 'x'"),
        ({"metric": "erf_assembly", "profile": None, "staff": 10}, "needs a staffing config"),
        (
            {"metric": "erf_assembly", "profile": None, "staffing": {"ENGINE": 4}},
            "needs the effective response force",
        ),
        ({"metric": "erf_assembly", "profile": "nfpa1720"}, "pass density_layer"),
        ({"profile": "nfpa9999"}, "unknown standards profile 'nfpa9999'; built-in profiles: cfai"),
        ({"metric": "travel", "entry": "nope"}, "has no entry 'nope'"),
    ],
)
def test_error_paths(sample, kwargs, match):
    with pytest.raises(MetricError, match=match) as exc:
        Fractiles.from_store(sample, agency="all", **kwargs)
    assert isinstance(exc.value, DispatchError) and isinstance(exc.value, ValueError)


def test_independent_pandas_fractiles_by_category(sample):
    """A pandas groupby with nearest-rank by hand equals the engine for every category."""
    f = Fractiles.from_store(
        sample, metric="travel", by=("call_category",), profile=None, target_s=240, agency="all"
    )
    inc = sample.execute("select call_category, travel_s from incidents").pl().to_pandas()

    def nr(s: pd.Series, p: float) -> float:
        v = np.sort(s.dropna().to_numpy())
        return v[math.ceil(len(v) * p / 100) - 1]

    exp = inc.groupby("call_category")["travel_s"].agg(
        n="count", p90=lambda s: nr(s, 90), ok=lambda s: (s.dropna() <= 240).mean()
    )
    for r in f.table.iter_rows(named=True):
        e = exp.loc[r["call_category"]]
        assert (r["n"], r["p90_s"], r["compliance"]) == (e["n"], e["p90"], e["ok"])


@pytest.mark.parametrize("n,p", [(5000, 90.0), (20000, 90.0), (100000, 95.0), (3000, 99.0)])
def test_ci_window_matches_exact_binomial_at_large_n(n, p):
    """The summation window (12 sd around n p) gives the exact ranks of the full binomial."""
    cdf = scipy_stats.binom.cdf(np.arange(n + 1), n, p / 100)
    a = 0.025
    low = int((cdf <= a + 1e-9).sum())
    high = int(np.argmax(cdf >= 1 - a - 1e-9)) + 1
    got = order_statistic_ci(n, p)
    assert (got[0], got[1]) == (low, high)


# --------------------------------------------------------------- da_fractiles (the one engine)
def _macro_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    install_macros(con)
    return con


@pytest.mark.slow  # ~12 s of hypothesis examples
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.one_of(st.none(), st.integers(0, 600).map(float)),
            st.sampled_from([None, None, None, "stage out of order", "beyond max interval"]),
        ),
        max_size=80,
    ),
    st.integers(0, 600),
    st.sampled_from([50, 80, 90, 95, 99, 33.3]),
    st.integers(1, 40),
)
def test_da_fractiles_equals_the_reference_and_counts_exclusions(rows, target, p, min_n):
    """The macro equals the pure-Polars reference on the values it counts, and says how many
    values it excluded and why (a NULL value without a reason: 'missing x')."""
    data = [
        (g, v, r if r is not None else ("missing x" if v is None else None)) for g, v, r in rows
    ]
    df = pl.DataFrame(
        {
            "g": [g for g, _, _ in data],
            "v": pl.Series([v for _, v, _ in data], dtype=pl.Float64),
            "reason": pl.Series([r for _, _, r in data], dtype=pl.String),
        },
        schema={"g": pl.String, "v": pl.Float64, "reason": pl.String},
    )
    con = _macro_con()
    con.register("df", df)
    got = con.execute(
        "with t as (select {'g': g} as grp, v as value_s, $t::double as target_s, "
        "$p::double as pct, reason as excluded_reason from df) "
        "select grp.g as g, * exclude (grp) from da_fractiles(t, percentiles := [50, 90, 95], "
        "min_n := $m) order by g",
        {"t": target, "p": p, "m": min_n},
    ).pl()
    counted = df.with_columns(
        pl.when(pl.col("reason").is_null()).then(pl.col("v")).alias("v")
    ).filter(pl.col("reason").is_null() | pl.col("v").is_null())
    ref = fractiles_polars(counted, "v", by=["g"], target_s=target, percentile=p, min_n=min_n).sort(
        "g"
    )
    assert got["g"].to_list() == ref["g"].to_list()
    got = got.with_columns(
        pl.col("fractiles_s").list.get(0).alias("p50_s"),
        pl.col("fractiles_s").list.get(1).alias("p90_s"),
        pl.col("fractiles_s").list.get(2).alias("p95_s"),
    )
    for c in [x for x in EXACT if x != "n_missing"]:
        assert got[c].to_list() == ref[c].to_list(), c
    for r in got.iter_rows(named=True):
        reasons = [x for g, _, x in data if g == r["g"] and x is not None]
        assert r["n_excluded"] == len(reasons)
        assert r["n_missing"] == sum(1 for g, v, x in data if g == r["g"] and x and v is None)
        counts = sorted((-reasons.count(x), x) for x in set(reasons))
        assert r["excluded"] == ("; ".join(f"{x}: {-k}" for k, x in counts) or None)


def test_da_fractiles_placeholders_mixed_targets_and_unmet():
    con = _macro_con()
    t = con.execute(
        """
        with t as (
          select * from (values
            ('a', 100.0, 120.0, 90.0, null), ('a', 200.0, 150.0, 90.0, null),
            ('a', 'inf'::double, 150.0, 90.0, null), ('a', null, 150.0, 90.0, 'no unit on scene'),
            ('b', null, null, 90.0, null)
          ) v(grp, value_s, target_s, pct, excluded_reason)
        )
        select * from da_fractiles(t, percentiles := [50], min_n := 1) order by grp
        """
    ).pl()
    a, b = t.row(0, named=True), t.row(1, named=True)
    # per-row targets: compliance over each row's own target; no single target_s
    assert (a["n"], a["n_unmet"], a["n_missing"], a["mean_s"]) == (3, 1, 1, 150.0)
    assert a["compliance"] == pytest.approx(1 / 3) and a["target_s"] is None and a["met"] is None
    assert a["p_value_s"] == math.inf and a["excluded"] == "no unit on scene: 1"
    # a placeholder row (value and reason NULL) lists its group and counts nothing
    assert (b["n"], b["n_excluded"], b["flag"], b["excluded"]) == (0, 0, "no_data", None)
    assert b["fractiles_s"] == [None]


def test_adding_an_interval_is_one_registry_entry(monkeypatch, tmp_path):
    from dispatch_analytics.metrics.queries import get_query
    from dispatch_analytics.metrics.standards import METRICS, metric_def, metric_names
    from dispatch_analytics.schema import intervals as registry
    from dispatch_analytics.store.derived_sql import incidents_sql, interval_view_sql

    new = registry.Interval(
        name="call_to_enroute",
        level="incident",
        start="call_received_at",
        end="enroute_at",
        start_column="call_received_at",
        end_column="first_enroute_at",
        label="Call to en route",
        basis="first unit en route",
        description="call received until the first unit is en route",
    )
    monkeypatch.setattr(registry, "INTERVALS", (*registry.INTERVALS, new))
    # the store's column, the long view, the query choices, the standards lookups
    assert "as call_to_enroute_s" in incidents_sql("responses")
    assert "'call_to_enroute'::varchar as metric" in interval_view_sql("incident")[0]
    metric = next(p for p in get_query("fractile_compliance").params if p.name == "metric")
    assert metric.choices[-1] == "call_to_enroute"
    assert metric_def("call_to_enroute").label == "Call to en route"
    assert (
        "call_to_enroute" in metric_names("incident") and ("call_to_enroute", "incident") in METRICS
    )
    # and every engine measures it: a store ingested now has the column
    store = H.small_store(tmp_path / "store", H.HERE / "first_due_erf.csv")
    con = store.connect(read_only=False)
    f = Fractiles.from_store(con, metric="call_to_enroute", profile=None, percentiles=(100,))
    q = run_query(con, "fractile_compliance", {"metric": "call_to_enroute", "target_s": "90"})
    by_hand = con.execute(
        "select max(epoch(first_enroute_at) - epoch(call_received_at)), count(first_enroute_at) "
        "from incidents"
    ).fetchone()
    assert f.table["p100_s"][0] == by_hand[0] and f.table["n"][0] == q["n"][0] == by_hand[1]
    assert (
        Store(store.root)
        .connect()
        .execute("select count(*) from incident_intervals where metric = 'call_to_enroute'")
        .fetchone()[0]
        == con.execute("select count(*) from incidents").fetchone()[0]
    )
    con.close()


def test_excluded_values_say_why(fd_con):
    f = Fractiles.from_store(fd_con, metric="travel", by=("layer:areas",), profile=None)
    s2 = f.table.filter(pl.col("zone_id") == "S02").row(0, named=True)
    assert s2["n"] == 0 and s2["n_missing"] == 1
    assert s2["excluded"] == "missing enroute_at and on_scene_at: 1"  # no unit arrived
    fd = Fractiles.from_store(
        fd_con, metric="first_due_travel", station_layer="areas", by=("layer:areas",), profile=None
    )
    assert fd.table.filter(pl.col("zone_id") == "S02")["excluded"][0] == "missing on_scene_at: 1"
    erf = Fractiles.from_store(
        fd_con, metric="erf_assembly", staffing={"ENGINE": 4}, staff=4, profile=None
    )
    assert "no unit on scene" in (erf.table["excluded"][0] or "")
