"""Impact (before / after): the SF week against hand-computed nearest-rank figures (numpy
``inverted_cdf``), the bootstrap and rank test, the call-mix rule, edge cases and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import metrics_helpers as H
import numpy as np
import polars as pl
import pytest
from conftest import copy_store
from scipy.stats import mannwhitneyu
from stats_reference import nearest_rank

from dispatch_analytics.analysis.impact import (
    Impact,
    bootstrap_p90_diff,
    weighted_nearest_rank,
)
from dispatch_analytics.errors import AnalysisError
from dispatch_analytics.store import Store

ROOT = Path(__file__).resolve().parents[1]
SF_WEEK = ROOT / "sample_data" / "sf_week"
B, A = "2016-12-31..2017-01-03", "2017-01-04..2017-01-07"


@pytest.fixture(scope="module")
def sf(sf_week_store, tmp_path_factory):
    """The SF week with the neighborhoods layer: a copy of the session's (conftest.py)."""
    return copy_store(sf_week_store, tmp_path_factory.mktemp("impact") / "store")


def _values(con, lo, hi, zone=None, col="total_response_s"):
    """The period's values by hand: local date of the call between lo and hi (inclusive)."""
    df = con.execute(
        f"select i.{col} as v, i.call_category, z.zone_id, cast(i.call_received_local_at as date) "
        "as d from incidents i left join incident_zones z on z.incident_id = i.incident_id and "
        "z.layer = 'neighborhoods'"
    ).pl()
    df = df.filter(pl.col("d").is_between(dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)))
    if zone:
        df = df.filter(pl.col("zone_id") == zone)
    return df


@pytest.mark.parametrize("zone, metric", [(None, "total_response"), ("Mission", "travel")])
def test_sf_week_equals_hand_computed_nearest_rank(sf, zone, metric):
    con = Store(sf).connect()
    kw = {"layer": "neighborhoods", "zone": zone} if zone else {}
    imp = Impact.from_store(con, before=B, after=A, metric=metric, seed=0, **kw)
    target = 480 if metric == "total_response" else 240
    for name, (lo, hi) in (("before", B.split("..")), ("after", A.split(".."))):
        df = _values(con, lo, hi, zone, f"{metric}_s")
        v = df["v"].drop_nulls().to_numpy()
        p = getattr(imp, name)
        assert p["n"] == len(v) and p["n_calls"] == df.height
        assert p["p50_s"] == np.percentile(v, 50, method="inverted_cdf")
        assert p["p90_s"] == np.percentile(v, 90, method="inverted_cdf")
        assert p["compliance"] == pytest.approx((v <= target).mean())
        assert p["ci_low_s"] <= p["p90_s"] <= p["ci_high_s"]
        assert p["calls_per_day"] == df.height / 4
    vb = _values(con, *B.split(".."), zone, f"{metric}_s")["v"].drop_nulls().to_numpy()
    va = _values(con, *A.split(".."), zone, f"{metric}_s")["v"].drop_nulls().to_numpy()
    d = imp.difference
    assert d["p90_diff_s"] == imp.after["p90_s"] - imp.before["p90_s"]
    mw = mannwhitneyu(va, vb, alternative="two-sided")
    assert d["mannwhitney_p"] == pytest.approx(mw.pvalue) and d["mannwhitney_u"] == mw.statistic
    assert d["ci_low_s"] <= d["p90_diff_s"] <= d["ci_high_s"]
    assert imp.mix["n_before"].sum() == len(vb) and imp.mix["share_after"].sum() == pytest.approx(1)
    assert imp.trend_period == "day" and set(imp.trend["segment"]) == {"before", "after"}
    doc = imp.to_dict()
    assert {"n", "p90_s", "compliance"} <= set(doc["before"]) and doc["metadata"][
        "metric"
    ] == metric
    con.close()


def test_bootstrap_is_seeded_and_vectorised():
    rng = np.random.default_rng(0)
    b, a = rng.exponential(300, 500), rng.exponential(330, 400)
    x = bootstrap_p90_diff(b, a, 300, seed=4)
    assert np.array_equal(x, bootstrap_p90_diff(b, a, 300, seed=4))
    assert not np.array_equal(x, bootstrap_p90_diff(b, a, 300, seed=5))
    # one replicate by hand: the same draws, nearest-rank p90 of each
    r = np.random.default_rng(4)
    ib, ia = r.integers(0, 500, (300, 500)), r.integers(0, 400, (300, 400))
    assert x[0] == nearest_rank(a[ia[0]], 90) - nearest_rank(b[ib[0]], 90)
    assert weighted_nearest_rank(a, np.ones(len(a))) == nearest_rank(a, 90)
    assert weighted_nearest_rank([1, 2, 3], [0, 0, 1]) == 3.0
    assert weighted_nearest_rank([1.0], [0.0]) is None


def _mix_con(before, after):
    """Incidents with (call_category, total_response_s) in two January weeks of 2024, UTC."""
    rows = []
    for k, (cat, v) in enumerate(before):
        rows.append((f"b{k}", cat, v, dt.datetime(2024, 1, 2, 10, tzinfo=dt.UTC)))
    for k, (cat, v) in enumerate(after):
        rows.append((f"a{k}", cat, v, dt.datetime(2024, 1, 20, 10, tzinfo=dt.UTC)))
    df = pl.DataFrame(
        rows,
        schema={
            "incident_id": pl.String,
            "call_category": pl.String,
            "total_response_s": pl.Float64,
            "call_received_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    ).with_columns(
        pl.lit("UTC").alias("timezone"),
        pl.lit(None, pl.String).alias("call_type"),
        pl.lit(None, pl.String).alias("priority"),
        pl.lit(None, pl.String).alias("station_id"),
        pl.lit(None, pl.String).alias("first_arriving_unit"),
        *[
            pl.lit(None, pl.Float64).alias(f"{m}_s")
            for m in ("alarm_answering", "call_processing", "turnout", "travel")
        ],
        pl.col("call_received_at").dt.replace_time_zone(None).alias("call_received_local_at"),
    )
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    H.fake_catalog(con, df)
    return con


def test_mix_shift_warning():
    rng = np.random.default_rng(1)
    ems = lambda n: [("ems", float(x)) for x in rng.normal(400, 30, n)]  # noqa: E731
    fire = lambda n: [("fire", float(x)) for x in rng.normal(700, 30, n)]  # noqa: E731
    # same per-category distributions; the after period has far more (slow) fire calls
    con = _mix_con(ems(180) + fire(20), ems(100) + fire(100))
    imp = Impact.from_store(con, before="2024-01-01..2024-01-07", after="2024-01-15..2024-01-21")
    d = imp.difference
    assert d["p90_diff_s"] > 150 and d["mix_tvd"] == pytest.approx(0.4)
    assert abs(d["p90_diff_reweighted_s"]) < 60
    assert any("the mix may explain the difference" in w for w in imp.warnings)
    # no mix shift, no warning
    con = _mix_con(ems(180) + fire(20), ems(180) + fire(20))
    imp = Impact.from_store(con, before="2024-01-01..2024-01-07", after="2024-01-15..2024-01-21")
    assert not any("mix" in w for w in imp.warnings)


def test_edge_cases(sf):
    con = Store(sf).connect()
    empty = Impact.from_store(con, before="2016-01-01..2016-01-31", after=A)
    assert empty.before["n"] == 0 and empty.before["p90_s"] is None
    assert empty.difference["p90_diff_s"] is None and empty.difference["ci_low_s"] is None
    assert any("has no call" in w for w in empty.warnings)
    one = _mix_con([("ems", 300.0)], [("ems", 420.0)])
    imp = Impact.from_store(one, before="2024-01-02..2024-01-02", after="2024-01-20..2024-01-20")
    assert (imp.before["n"], imp.before["p90_s"], imp.after["p90_s"]) == (1, 300.0, 420.0)
    assert (
        imp.difference["p90_diff_s"]
        == 120
        == imp.difference["ci_low_s"]
        == imp.difference["ci_high_s"]
    )
    assert imp.before["ci_low_s"] is None  # one value cannot bound a p90
    assert any("only 1 calls" in w for w in imp.warnings)
    rev = Impact.from_store(one, before="2024-01-20..2024-01-20", after="2024-01-02..2024-01-02")
    assert any("starts before" in w for w in rev.warnings)
    con.close()


def test_errors(sf):
    con = Store(sf).connect()
    with pytest.raises(
        AnalysisError,
        match="`zone` 'Atlantis' is not a zone of layer 'neighborhoods'; its zones: Bayview",
    ):
        Impact.from_store(con, before=B, after=A, layer="neighborhoods", zone="Atlantis")
    with pytest.raises(
        AnalysisError,
        match=r"`before` 2017-01-03..2016-12-31 ends before it starts: give the earlier date first \(2016-12-31..2017-01-03\)",
    ):
        Impact.from_store(con, before="2017-01-03..2016-12-31", after=A)
    with pytest.raises(AnalysisError, match=r"the periods overlap \(2017-01-02..2017-01-03\)"):
        Impact.from_store(con, before=B, after="2017-01-02..2017-01-07")
    with pytest.raises(AnalysisError) as e:
        Impact.from_store(
            con, before="2017-01", after="x..y", metric="speed", zone="Mission", n_boot=0
        )
    msg = str(e.value)
    for needle in (
        "`before` '2017-01' is not a period",
        "`after` 'x' is not a date",
        "`metric` 'speed' must be one of",
        "`zone` 'Mission' needs `layer`",
        "`n_boot` must be a whole number >= 1",
    ):
        assert needle in msg
    with pytest.raises(AnalysisError, match="`layer` 'neighborhoods' needs `zone`"):
        Impact.from_store(con, before=B, after=A, layer="neighborhoods")
    with pytest.raises(AnalysisError, match="sets turnout targets per call category"):
        Impact.from_store(con, before=B, after=A, metric="turnout")
    ok = Impact.from_store(con, before=B, after=A, metric="turnout", call_category="ems")
    assert ok.target_s == 60
    con.close()


def test_cli_impact(sf, capsys):
    from dispatch_analytics.cli import main

    code = main(
        [
            "impact",
            "--before",
            B,
            "--after",
            A,
            "--data-dir",
            str(sf),
            "-f",
            "json",
            "--n-boot",
            "500",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert (
        code == 0
        and doc["before"]["n"] > 1000
        and "p90_s" in doc["after"]
        and "compliance" in doc["after"]
    )
    assert doc["difference"]["n_boot"] == 500
    code = main(
        [
            "impact",
            "--before",
            B,
            "--after",
            A,
            "--data-dir",
            str(sf),
            "--layer",
            "neighborhoods",
            "--zone",
            "Mission",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "after - before" in out and "Mann-Whitney" in out and "%" in out
    code = main(["impact", "--before", B, "--after", B, "--data-dir", str(sf)])
    assert code == 1 and "the periods overlap" in " ".join(capsys.readouterr().err.split())
    code = main(["impact", "--after", A, "--data-dir", str(sf)])
    assert code == 2 and "--before" in capsys.readouterr().err
    code = main(["impact", "--before", B, "--after", A, "--data-dir", str(sf), "-f", "csv"])
    assert code == 2 and "must be table, json" in capsys.readouterr().err


def test_periods_are_local_dates_in_each_agency_time_zone():
    con = _mix_con([("ems", 300.0), ("ems", 310.0)], [("ems", 400.0)])
    # b1 was received 2024-01-02 10:00 UTC; give it a zone where that is still 2024-01-01
    con.execute(
        "update incidents set timezone = 'Pacific/Honolulu', call_received_local_at = "
        "timestamp '2024-01-01 23:30:00' where incident_id = 'b1'"
    )
    imp = Impact.from_store(con, before="2024-01-02..2024-01-07", after="2024-01-15..2024-01-21")
    assert imp.before["n"] == 1 and imp.before["p90_s"] == 300.0
    imp = Impact.from_store(con, before="2024-01-01..2024-01-07", after="2024-01-15..2024-01-21")
    assert imp.before["n"] == 2


def test_bootstrap_does_not_depend_on_row_order():
    rng = np.random.default_rng(2)
    before = [("ems", float(x)) for x in rng.exponential(300, 80)]
    after = [("ems", float(x)) for x in rng.exponential(360, 90)]
    kw = {"before": "2024-01-01..2024-01-07", "after": "2024-01-15..2024-01-21", "n_boot": 500}
    a = Impact.from_store(_mix_con(before, after), **kw).difference
    b = Impact.from_store(_mix_con(before[::-1], after[::-1]), **kw).difference
    assert (a["ci_low_s"], a["ci_high_s"]) == (b["ci_low_s"], b["ci_high_s"])
