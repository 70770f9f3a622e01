"""Reliability: unit-hour utilisation (hand cases and the real SF week against pandas), by hour,
station busy share, roster, call concurrency per zone, cross-area responses; errors; the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
from conftest import copy_store

from dispatch_analytics.analysis.reliability import (
    Reliability,
    pivot_cross_area,
    station_busy_share,
    unit_hour_utilization,
)
from dispatch_analytics.errors import AnalysisError
from dispatch_analytics.metrics.queries import run_query
from dispatch_analytics.store import Store

ROOT = Path(__file__).resolve().parents[1]
SF_WEEK = ROOT / "sample_data" / "sf_week"
UTC = dt.UTC


def t(h, m=0, day=2):
    """2024-01-<day> h:m UTC (the hand cases use UTC as the agency zone)."""
    return dt.datetime(2024, 1, day, h, m, tzinfo=UTC)


def hand_con(rows, tz="UTC") -> duckdb.DuckDBPyConnection:
    """A connection whose ``responses`` / ``incidents`` are the given unit rows:
    (incident_id, unit_id, station_id, received, dispatched, cleared)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    tzt = pl.Datetime("us", "UTC")
    df = pl.DataFrame(
        rows,
        schema={
            "incident_id": pl.String,
            "unit_id": pl.String,
            "station_id": pl.String,
            "call_received_at": tzt,
            "dispatched_at": tzt,
            "cleared_at": tzt,
        },
        orient="row",
    ).with_columns(
        pl.lit(tz).alias("timezone"),
        pl.lit("hand").alias("source"),
        pl.lit("Hand FD").alias("agency"),
    )
    con.register("_r", df)
    con.execute("create table responses as select * from _r")
    con.execute(
        "create table incidents as select agency, incident_id, min(call_received_at) as "
        "call_received_at, max(cleared_at) as last_cleared_at, any_value(timezone) as timezone, "
        "timezone(any_value(timezone), min(call_received_at)) as call_received_local_at, "
        "null::varchar as first_arriving_unit from _r group by agency, incident_id"
    )
    return con


# A unit with overlapping, nested, touching and separate intervals, one without a cleared
# time, and one crossing the window start (window: 2024-01-02 local = UTC here)
HAND = [
    ("A", "M1", "S1", t(10), t(10), t(10, 30)),
    ("B", "M1", "S1", t(10, 15), t(10, 15), t(10, 45)),  # overlaps A: union 10:00-10:45
    ("C", "M1", "S1", t(10, 20), t(10, 20), t(10, 25)),  # nested in A/B
    ("D", "M1", "S1", t(10, 45), t(10, 45), t(11, 0)),  # touches B: union 10:00-11:00
    ("E", "M1", "S1", t(13), t(13), t(13, 10)),  # a gap, then 10 min
    ("F", "M1", "S1", t(14), t(14), None),  # no cleared time: counted, adds nothing
    ("G", "M1", "S1", t(23, 30, day=1), t(23, 30, day=1), t(0, 30)),  # 30 min inside
    ("H", "E1", "S2", t(12), t(12), t(12, 6)),
    ("I", "E1", "S2", t(23, 50), t(23, 50), t(0, 20, day=3)),  # 10 min inside
]


def test_uhu_by_hand_with_overlaps_and_gaps():
    con = hand_con(HAND)
    u = unit_hour_utilization(con, "2024-01-02", "2024-01-02")
    r = {row["unit_id"]: row for row in u.iter_rows(named=True)}
    assert r["M1"]["committed_h"] == pytest.approx((60 + 10 + 30) / 60)
    assert r["M1"]["window_h"] == 24 and r["M1"]["uhu"] == pytest.approx(100 / 60 / 24)
    # G was dispatched the day before: it adds time but is not one of the day's responses
    assert (r["M1"]["responses"], r["M1"]["missing_cleared"]) == (6, 1)
    assert r["E1"]["committed_h"] == pytest.approx(16 / 60) and r["E1"]["responses"] == 2
    assert u.columns[:6] == [
        "unit_id",
        "committed_h",
        "window_h",
        "uhu",
        "responses",
        "missing_cleared",
    ]
    # the named query, as analysts run it (to_date exclusive)
    q = run_query(
        con, "unit_hour_utilization", {"from_date": "2024-01-02", "to_date": "2024-01-03"}
    )
    assert q.equals(u)


def test_uhu_by_hour_and_busy_share_by_hand():
    con = hand_con(HAND)
    h = run_query(
        con, "unit_hour_utilization_by_hour", {"from_date": "2024-01-02", "to_date": "2024-01-03"}
    )
    m1 = {
        r["hour"]: r["committed_h"]
        for r in h.filter(pl.col("unit_id") == "M1").iter_rows(named=True)
    }
    assert h.filter(pl.col("unit_id") == "M1").height == 24
    assert m1[0] == pytest.approx(0.5) and m1[10] == pytest.approx(1.0)
    assert m1[13] == pytest.approx(10 / 60) and m1[11] == 0 and m1[14] == 0
    assert h["window_h"].unique().to_list() == [1.0]
    b = station_busy_share(con, "2024-01-02", "2024-01-02", band_h=12)
    s1 = b.filter(pl.col("station_id") == "S1").sort("band_start_hour")
    assert s1["busy_share"].to_list() == pytest.approx([(30 + 60) / 60 / 12, 10 / 60 / 12])
    assert s1["n_units"].to_list() == [1, 1] and s1["unit_window_h"].to_list() == [12.0, 12.0]
    with pytest.raises(AnalysisError, match="`band_h` must divide 24"):
        station_busy_share(con, band_h=5)


def test_uhu_with_a_roster(tmp_path):
    con = hand_con(HAND)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "unit_id,start,end\nM1,2024-01-02 08:00,2024-01-02 12:00\n"
        "M1,2024-01-02 11:00,2024-01-02 20:00\nE1,2024-01-02T00:00:00+00:00,2024-01-03 00:00\n"
    )
    u = unit_hour_utilization(con, "2024-01-02", "2024-01-02", roster=roster)
    r = {row["unit_id"]: row for row in u.iter_rows(named=True)}
    assert r["M1"]["window_h"] == pytest.approx(12)  # 08-20, the overlap counted once
    assert r["M1"]["committed_h"] == pytest.approx(70 / 60)  # 10-11 and 13:00-13:10
    assert r["M1"]["committed_unstaffed_h"] == pytest.approx(30 / 60)  # 00:00-00:30
    assert r["E1"]["uhu"] == pytest.approx(16 / 60 / 24)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "unit_id,start,end\nM1,yesterday,2024-01-02 12:00\n,2024-01-02 13:00,2024-01-02 12:00\n"
    )
    with pytest.raises(
        AnalysisError,
        match=r"(?s)row 1: `start` 'yesterday'.*row 2: `unit_id` is blank.*row 2: `end`",
    ):
        unit_hour_utilization(con, roster=bad)
    with pytest.raises(AnalysisError, match="lacks column"):
        unit_hour_utilization(con, roster=pl.DataFrame({"unit": ["M1"]}))
    with pytest.raises(AnalysisError, match="roster file .* not found"):
        unit_hour_utilization(con, roster=tmp_path / "nope.csv")


def test_dst_day_has_25_hours():
    start = dt.datetime(2024, 11, 3, 6, tzinfo=UTC)  # local midnight in Chicago (CDT)
    con = hand_con(
        [("A", "M1", "S1", start, start, start + dt.timedelta(hours=2))], "America/Chicago"
    )
    u = unit_hour_utilization(con, "2024-11-03", "2024-11-03")
    assert u["window_h"][0] == 25 and u["committed_h"][0] == pytest.approx(2)
    h = run_query(
        con, "unit_hour_utilization_by_hour", {"from_date": "2024-11-03", "to_date": "2024-11-04"}
    )
    assert h["window_h"].sum() == 25 and h.filter(pl.col("hour") == 1)["window_h"][0] == 2


# ------------------------------------------------------------------------------ SF week
@pytest.fixture(scope="module")
def sf(sf_week_store, tmp_path_factory):
    """The SF week with the neighborhoods layer: a copy of the session's (conftest.py)."""
    return copy_store(sf_week_store, tmp_path_factory.mktemp("rel") / "store")


def _pandas_uhu(resp: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    """Committed hours per unit: sort, merge overlapping intervals, clip to the window."""
    out = {}
    r = resp.dropna(subset=["dispatched_at", "cleared_at"])
    r = r[r.cleared_at > r.dispatched_at]
    for unit, g in r.groupby("unit_id"):
        total, cur_a, cur_b = pd.Timedelta(0), None, None
        for a, b in sorted(
            zip(g.dispatched_at.clip(lower=lo), g.cleared_at.clip(upper=hi), strict=True)
        ):
            if b <= a:
                continue
            if cur_b is None or a > cur_b:
                if cur_b is not None:
                    total += cur_b - cur_a
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_b is not None:
            total += cur_b - cur_a
        out[unit] = total.total_seconds() / 3600
    return pd.Series(out)


def test_sf_week_uhu_equals_pandas(sf):
    con = Store(sf).connect()
    u = unit_hour_utilization(con, "2017-01-02", "2017-01-05").to_pandas().set_index("unit_id")
    resp = con.execute("select unit_id, dispatched_at, cleared_at from responses").df()
    lo = pd.Timestamp("2017-01-02", tz="America/Los_Angeles").tz_convert("UTC")
    hi = pd.Timestamp("2017-01-06", tz="America/Los_Angeles").tz_convert("UTC")
    for c in ("dispatched_at", "cleared_at"):
        resp[c] = pd.to_datetime(resp[c], utc=True)
    exp = _pandas_uhu(resp, lo, hi)
    exp = exp[exp > 0]
    got = u["committed_h"][u["committed_h"] > 0]
    assert set(got.index) == set(exp.index)
    pd.testing.assert_series_equal(got.sort_index(), exp.sort_index(), check_names=False, rtol=1e-9)
    assert (u["window_h"] == 96).all()
    placed = resp.assign(d=pd.to_datetime(resp.dispatched_at, utc=True))
    inside = placed[(placed.d >= lo) & (placed.d < hi)]
    assert u["responses"].sum() == len(inside)
    assert u["missing_cleared"].sum() == inside.cleared_at.isna().sum()
    # by hour adds up to the window's total
    by_hour = run_query(
        con, "unit_hour_utilization_by_hour", {"from_date": "2017-01-02", "to_date": "2017-01-06"}
    )
    assert by_hour["committed_h"].sum() == pytest.approx(u["committed_h"].sum())
    busy = station_busy_share(con, "2017-01-02", "2017-01-05")
    assert busy["committed_h"].sum() == pytest.approx(u["committed_h"].sum())
    con.close()


@pytest.mark.slow  # every table on the SF week; fast: test_sf_week_uhu_equals_pandas
def test_sf_week_reliability_tables(sf):
    con = Store(sf).connect()
    rel = Reliability.from_store(con, layer="neighborhoods")
    assert (rel.start, rel.end) == (dt.date(2016, 12, 31), dt.date(2017, 1, 7))
    assert set(rel.tables()) == {
        "first_due",
        "cross_area",
        "concurrency",
        "utilization",
        "utilization_by_hour",
        "busy_share",
    }
    assert any("not a station-area layer" in n for n in rel.notes)
    n_inc = con.execute("select count(*) from incidents").fetchone()[0]
    assert rel.concurrency["n_incidents"].sum() == n_inc
    assert (
        rel.concurrency_by_hour.height == 24
        and rel.concurrency_by_hour["n_incidents"].sum() == n_inc
    )
    top = rel.utilization.row(0, named=True)
    assert top["uhu"] == rel.utilization["uhu"].max() and top["window_h"] == 192
    no_layer = Reliability.from_store(con)
    assert no_layer.first_due is None and no_layer.cross_area is None
    con.close()


def test_concurrency_per_zone_by_hand():
    rows = [  # A: 10:00-10:31 in Z1, B: 10:05-10:10 in Z1, C: 10:30-10:40 in Z2
        ("A", "M1", "S1", t(10), t(10), t(10, 31)),
        ("B", "M2", "S1", t(10, 5), t(10, 5), t(10, 10)),
        ("C", "M3", "S2", t(10, 30), t(10, 30), t(10, 40)),
    ]
    con = hand_con(rows)
    con.execute(
        "create table incident_zones as select 'Hand FD' as agency, * from (values ('A', 'L', 'Z1'), "
        "('B', 'L', 'Z1'), ('C', 'L', 'Z2')) v(incident_id, layer, zone_id)"
    )
    con.execute("create table zones as select 'Hand FD' as agency, 'L' as layer, 'Z1' as zone_id")
    q = run_query(con, "call_concurrency", {"layer": "L", "by": "zone"})
    z = {r["zone_id"]: r for r in q.iter_rows(named=True)}
    assert z["Z1"]["n_incidents"] == 2 and z["Z1"]["mean_concurrent"] == 0.5  # B sees A
    assert z["Z1"]["mean_concurrent_in_zone"] == 0.5 and z["Z2"]["mean_concurrent"] == 1  # C sees A
    assert z["Z2"]["mean_concurrent_in_zone"] == 0 and z["Z1"]["share_0"] == 0.5
    w = run_query(
        con, "call_concurrency", {"by": "hour", "from_date": "2024-01-02", "to_date": "2024-01-03"}
    )
    assert w["n_incidents"].sum() == 3
    none = run_query(con, "call_concurrency", {"from_date": "2024-01-03"})
    assert none.height == 0


@pytest.mark.slow  # every table on the city; fast: test_queries.py runs cross_area_responses
def test_cross_area_on_the_sample_city(two_agency_store, tmp_path):
    import metrics_helpers as h

    store = Store(copy_store(two_agency_store, tmp_path / "store"))
    con = store.connect(read_only=False)
    h.add_zone_tables(con)
    # the city's first quarter (the store also holds an SFFD slice of 2016)
    rel = Reliability.from_store(
        con, layer="station_areas", start="2024-01-01", end="2024-03-31", agency="Sample City FD"
    )
    long = rel.cross_area
    # brute force: every unit response joined to its incident's area
    bf = con.execute(
        "select z.zone_id, r.station_id, count(*) as n from responses r join incident_zones z "
        "on z.incident_id = r.incident_id and z.layer = 'station_areas' join incidents i on "
        "i.incident_id = r.incident_id where cast(i.call_received_local_at as date) between "
        "'2024-01-01' and '2024-03-31' group by all"
    ).pl()
    got = long.filter(pl.col("zone_id").is_not_null()).select(
        "zone_id", "station_id", pl.col("n_responses").alias("n")
    )
    assert got.sort("zone_id", "station_id").equals(
        bf.sort("zone_id", "station_id").cast({"n": pl.Int64})
    )
    shares = long.group_by("zone_id").agg(pl.col("share_of_area").sum())["share_of_area"]
    assert (shares - 1).abs().max() < 1e-9
    m = rel.cross_area_matrix()
    assert (
        m.height == long["zone_id"].n_unique()
        and m.select(pl.exclude("zone_id")).sum_horizontal().sum() == long["n_responses"].sum()
    )
    # first-due reliability is the named query's (one definition)
    fd = run_query(
        con,
        "first_due_reliability",
        {"station_layer": "station_areas", "from_date": "2024-01-01", "to_date": "2024-04-01"},
    )
    assert rel.first_due.equals(fd)
    assert pivot_cross_area(long.head(0)).columns == ["zone_id"]
    con.close()


def test_reliability_errors(sf):
    con = Store(sf).connect()
    with pytest.raises(AnalysisError) as e:
        Reliability.from_store(
            con, layer="nope", start="2017-01-05", end="2017-01-01", band_h=7, agency="sf"
        )
    msg = str(e.value)
    for needle in (
        "`layer` 'nope' is not a loaded zone layer; loaded layers: neighborhoods",
        "`end` 2017-01-01 is before `start` 2017-01-05",
        "`band_h` must divide 24",
        "`agency` 'sf'",
    ):
        assert needle in msg
    with pytest.raises(AnalysisError, match="`start` '1/2/2017' is not a date"):
        unit_hour_utilization(con, "1/2/2017")
    con.close()


@pytest.mark.slow  # ~12 s: every reliability table on the SF week
def test_cli_reliability(sf, capsys, tmp_path):
    from dispatch_analytics.cli import main

    code = main(
        [
            "reliability",
            "--data-dir",
            str(sf),
            "-f",
            "json",
            "--from",
            "2017-01-02",
            "--to",
            "2017-01-03",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert (
        code == 0
        and doc["metadata"]["start"] == "2017-01-02"
        and doc["metadata"]["end"] == "2017-01-03"
    )
    assert {"unit_id", "committed_h", "window_h", "uhu", "responses", "missing_cleared"} <= set(
        doc["utilization"][0]
    )
    assert doc["utilization"][0]["window_h"] == 48
    code = main(["reliability", "--data-dir", str(sf), "--table", "utilization", "-f", "csv"])
    assert code == 0 and capsys.readouterr().out.startswith("unit_id,committed_h,window_h,uhu,")
    code = main(["reliability", "--data-dir", str(sf), "--layer", "neighborhoods", "--limit", "3"])
    text = capsys.readouterr().out
    assert code == 0 and "Unit-hour utilisation" in text and "Cross-area" in text and "%" in text
    code = main(["reliability", "--data-dir", str(sf), "-f", "csv"])
    assert code == 2 and "prints one table" in capsys.readouterr().err
    code = main(["reliability", "--data-dir", str(sf), "--table", "cross_area"])
    assert code == 2 and "needs `--layer`" in " ".join(capsys.readouterr().err.split())
    code = main(["reliability", "--data-dir", str(sf), "--layer", "nope"])
    assert code == 1 and "'nope' is not a loaded zone layer" in " ".join(
        capsys.readouterr().err.split()
    )
    code = main(["reliability", "--data-dir", str(tmp_path / "none")])
    assert code == 1
