"""Dashboard building blocks as plain functions: filters, SQL sandbox, stats, alerts, figures."""

from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest

from dash_app import figures, stats
from dash_app.alerts import append_alerts, evaluate_alerts
from dash_app.data import DataSource
from dash_app.filters import Filters, parse_search, to_search, where_sql
from dash_app.sql_console import run_console_sql
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

TARGETS = {
    "call_processing": (60.0, 90.0),
    "turnout": (80.0, 90.0),
    "travel": (240.0, 90.0),
    "total_response": (480.0, 90.0),
}


@pytest.fixture(scope="module")
def city_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")
    city = generate_city(root / "city", n_incidents=600, seed=5)
    ingest(city.incidents_csv, load_profile(city.mapping_toml), data_dir=root / "store")
    return root / "store", city


def test_filters_round_trip_through_url():
    f = Filters(
        date_from=date(2024, 1, 1),
        date_to=date(2024, 3, 31),
        categories=("ems", "fire"),
        priorities=("1",),
        layer="station_areas",
        profile="nfpa1720",
    )
    s = to_search(f)
    assert s.startswith("?") and "cat=ems,fire" in s
    assert parse_search(s) == f
    assert parse_search("?from=garbage&cat=") == Filters()
    where, params = where_sql(f)
    assert "local_date >= $date_from" in where and params["cats"] == ["ems", "fire"]
    assert where_sql(Filters()) == ("true", {})


def test_sql_console_runs_select_and_refuses_the_rest(city_store, tmp_path):
    root, _ = city_store
    from dispatch_analytics import Store

    st = Store(root)
    ok = run_console_sql(st.catalog_path, st.lake, "select count(*) as n from incidents")
    assert ok.error is None and ok.frame["n"][0] > 500
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    refused = {
        "write": "create table x as select 1",
        "insert": "insert into rejects select * from rejects",
        "file read": f"select * from read_csv('{secret}')",
        "etc": "select * from read_text('/etc/passwd')",
        "attach": f"attach '{tmp_path / 'x.db'}' as x",
        "install": "install spatial",
        "set": "set enable_external_access = true",
        "copy": f"copy (select 1) to '{tmp_path / 'o.csv'}'",
        "two statements": "select 1; select 2",
    }
    for what, sql in refused.items():
        res = run_console_sql(st.catalog_path, st.lake, sql)
        assert res.frame is None and res.error, what
        assert res.error.startswith(("Refused", "SQL error")), (what, res.error)
    assert not (tmp_path / "o.csv").exists()
    limited = run_console_sql(st.catalog_path, st.lake, "select * from range(100)", row_limit=10)
    assert limited.frame.height == 10 and limited.truncated
    slow = run_console_sql(
        st.catalog_path, st.lake, "select count(*) from range(100000000000) a", timeout_s=0.5
    )
    assert slow.error and "longer than" in slow.error


def _by_hand(root):
    """Incident intervals recomputed with pandas from the responses parquet files."""
    import glob

    r = pd.concat(
        [pd.read_parquet(p) for p in glob.glob(f"{root}/lake/batches/*/responses-*.parquet")]
    )
    g = r.groupby("incident_id")
    inc = pd.DataFrame(
        {
            "rcvd": g["call_received_at"].min(),
            "disp": g["dispatched_at"].min(),
            "scene": g["on_scene_at"].min(),
        }
    )
    inc["total"] = (inc.scene - inc.rcvd).dt.total_seconds()
    inc["cp"] = (inc.disp - inc.rcvd).dt.total_seconds()
    return inc


def _nearest_rank(x, p):
    x = np.sort(np.asarray(x, float))
    return x[int(np.ceil(p / 100 * len(x))) - 1]


def test_interval_summary_matches_pandas(city_store):
    root, _ = city_store
    snap = DataSource(root).snapshot()
    inc = _by_hand(root)
    s = stats.interval_summary(snap, Filters(), "total_response", 480, 90)
    tot = inc["total"].dropna()
    assert s["n"] == len(tot)
    assert s["p_s"] == _nearest_rank(tot, 90)
    assert s["compliance"] == pytest.approx((tot <= 480).mean())
    # nearest rank: p90 <= target exactly when compliance >= 90%
    assert (s["p_s"] <= 480) == (s["compliance"] >= 0.9)
    cp = stats.interval_summary(snap, Filters(), "call_processing", 60, 90)
    assert cp["p_s"] == _nearest_rank(inc["cp"].dropna(), 90)
    # p = 99.9 at n = 1000k is where a computed double fraction takes the wrong rank
    assert stats.interval_summary(snap, Filters(), "total_response", 480, 99.9)[
        "p_s"
    ] == _nearest_rank(tot, 99.9)


def test_category_dependent_target(city_store):
    """NFPA 1710 turnout: 60 s for EMS calls, 80 s for fire and other calls."""
    root, _ = city_store
    snap = DataSource(root).snapshot()
    t = (("ems", 60.0), ("fire", 80.0), ("other", 80.0))
    got = stats.interval_summary(snap, Filters(), "turnout", t, 90)["compliance"]
    inc = snap.query(
        "select call_category, turnout_s from inc where turnout_s is not null"
    ).to_pandas()
    lim = inc["call_category"].map({"ems": 60.0, "fire": 80.0, "other": 80.0})
    assert got == pytest.approx((inc["turnout_s"] <= lim).mean())
    assert stats.target_label(t) == "1:00 ems · 1:20 fire, other"
    assert stats.target_lines(t) == {"target ems": 60.0, "target fire, other": 80.0}
    assert stats.single_target(((None, 240.0),)) == 240.0 and stats.single_target(t) is None
    from dash_app.targets import profile_targets

    assert profile_targets("nfpa1710")["turnout"][0] == t


def test_filters_change_results(city_store):
    root, _ = city_store
    snap = DataSource(root).snapshot()
    all_ = stats.interval_summary(snap, Filters(), "total_response", 480)
    ems = stats.interval_summary(snap, Filters(categories=("ems",)), "total_response", 480)
    assert 0 < ems["volume"] < all_["volume"]
    empty = stats.interval_summary(
        snap, Filters(date_from=date(1990, 1, 1), date_to=date(1990, 1, 2)), "total_response", 480
    )
    assert empty["n"] == 0 and empty["p_s"] is None


def test_trend_heatmap_volume(city_store):
    root, _ = city_store
    snap = DataSource(root).snapshot()
    tr = stats.trend(snap, Filters(), "travel", 240, 90, "month")
    assert tr.height >= 12 and tr["n"].sum() > 0
    hm = stats.heatmap(snap, Filters())
    assert hm["n"].sum() == snap.query("select count(*) as n from inc")["n"][0]
    assert set(hm["weekday"]) <= set(range(1, 8)) and set(hm["hour"]) <= set(range(24))
    vol = stats.volume_by_category(snap, Filters(), "month")
    assert set(vol["call_category"]) <= {"ems", "fire", "other"}
    for fig in (
        figures.trend_figure({"travel": tr}, {"travel": 240}, 90),
        figures.heatmap_figure(hm),
        figures.volume_figure(vol),
        figures.sparkline(tr, 240),
    ):
        assert fig.data


def test_windows_relative_to_newest_incident(city_store):
    root, _ = city_store
    snap = DataSource(root).snapshot()
    w = stats.windows_summary(snap, Filters(), "total_response", 480)
    assert w["window"].to_list() == ["last 24 h", "last 7 d", "last 30 d", "selected period"]
    assert w["n"].to_list() == sorted(w["n"].to_list())


def test_alerts_raised_and_logged_once(city_store, tmp_path):
    root, _ = city_store
    snap = DataSource(root).snapshot()
    strict = {"total_response": (60.0, 90.0)}  # nobody arrives within a minute
    alerts = evaluate_alerts(snap, Filters(), strict, window_days=30, min_n=1)
    assert alerts and alerts[0].metric == "total_response" and alerts[0].scope == "all"
    assert alerts[0].compliance < 0.9
    log = tmp_path / "alerts.log"
    assert append_alerts(log, alerts) == len(alerts)
    assert append_alerts(log, alerts) == 0
    assert len(log.read_text().splitlines()) == len(alerts)
    lenient = {"total_response": (10_000.0, 90.0)}
    assert evaluate_alerts(snap, Filters(), lenient, window_days=30, min_n=1) == []


def test_live_snapshot_sees_new_batches(city_store, tmp_path):
    root, city = city_store
    import shutil

    store2 = tmp_path / "store2"
    shutil.copytree(root, store2)
    ds = DataSource(store2)
    v1 = ds.version()
    n1 = ds.snapshot().query("select count(*) as n from inc")["n"][0]
    from conftest import UNIT_HEADER, UNIT_TOML, unit_row, write_csv, write_toml

    p = write_csv(tmp_path / "new.csv", UNIT_HEADER, [unit_row(inc="LIVE-1")])
    ingest(p, load_profile(write_toml(tmp_path / "m.toml", UNIT_TOML)), data_dir=store2)
    assert ds.version() != v1
    assert ds.snapshot().query("select count(*) as n from inc")["n"][0] == n1 + 1


# --------------------------------------------- the dashboard computes through the library
@pytest.fixture(scope="module")
def zoned_store(city_store, tmp_path_factory):
    import shutil

    from dispatch_analytics.spatial.zones import load_zones

    root, city = city_store
    store = tmp_path_factory.mktemp("zoned") / "store"
    shutil.copytree(root, store)
    load_zones(store, city.station_areas_geojson, "station_areas", "station_id", name_field="name")
    return store


def test_units_page_gives_the_library_queries_numbers(zoned_store):
    """Unit turnout and first-due reliability are the `dispatch query` definitions: the same
    numbers, unfiltered and filtered."""
    from dispatch_analytics import Store
    from dispatch_analytics.metrics.queries import run_query

    snap = DataSource(zoned_store).snapshot()
    con = Store(zoned_store).connect()
    nfpa = (("ems", 60.0), ("fire", 80.0), ("other", 80.0))
    keys = ["unit", "turnout_class"]
    for f, where in ((Filters(), "true"), (Filters(categories=("ems",)), "call_category = 'ems'")):
        lib = run_query(
            con,
            "unit_turnout",
            {"ems_target_s": 60, "fire_target_s": 80, "percentile": 90},
            sources={"unit_intervals": f"select * from unit_intervals where {where}"},
        ).rename({"unit_id": "unit", "p_value_s": "p_s"})
        dash = stats.unit_turnout(snap, f, nfpa, 90, top=100_000)
        assert dash.height == lib.height > 0
        cols = [*keys, "unit_type", "n", "p_s", "compliance", "target_s", "flag"]
        assert dash.sort(keys).select(cols).equals(lib.sort(keys).select(cols))
    assert set(dash["turnout_class"]) == {"ems"}
    lib = run_query(con, "first_due_reliability", {"station_layer": "station_areas"})
    lib = lib.filter(pl.col("zone_id").is_not_null()).sort("zone_id")
    dash = stats.first_due_reliability(snap, Filters(), "station_areas").sort("station_area")
    assert dash["station_area"].to_list() == lib["zone_id"].to_list()
    assert dash["n"].to_list() == lib["n_arrived"].to_list()
    assert dash["first_due_share"].to_list() == lib["reliability"].to_list()
    con.close()


def test_overview_numbers_are_the_fractiles_engines(zoned_store):
    from dispatch_analytics import Store
    from dispatch_analytics.metrics.fractiles import Fractiles

    snap = DataSource(zoned_store).snapshot()
    con = Store(zoned_store).connect()
    for metric, target in (("travel", 240), ("call_processing", 60)):
        s = stats.interval_summary(snap, Filters(), metric, target, 90)
        t = Fractiles.from_store(
            con, metric=metric, target_s=target, profile=None, percentiles=()
        ).table.row(0, named=True)
        assert (s["n"], s["p_s"], s["compliance"]) == (t["n"], t["p_value_s"], t["compliance"])
        assert s["volume"] == t["n"] + t["n_missing"]
    z = stats.zone_stats(snap, Filters(), "station_areas", "total_response", 480.0, 90)
    e = Fractiles.from_store(
        con, metric="total_response", by="layer:station_areas", target_s=480, profile=None
    ).table.filter(pl.col("zone_id").is_not_null())
    assert z["zone_id"].to_list() == e["zone_id"].to_list()
    assert z["p_s"].to_list() == e["p_value_s"].to_list()
    assert z["gap_s"].to_list() == [p - 480 for p in e["p_value_s"].to_list()]
    con.close()


def test_the_dashboard_lists_the_registry_intervals(monkeypatch):
    from dash_app.data import INTERVALS, dashboard_intervals
    from dispatch_analytics.schema import intervals as registry

    assert INTERVALS == dashboard_intervals()
    assert list(INTERVALS) == ["call_processing", "turnout", "travel", "total_response"]
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
    assert dashboard_intervals()["call_to_enroute"] == (
        "Call to en route",
        "call_received_at",
        "first_enroute_at",
    )
