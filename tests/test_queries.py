"""The analyst SQL library (queries/*.sql) and its runner."""

from __future__ import annotations

import datetime as dt
import math
import re

import duckdb
import metrics_helpers as H  # noqa: E402
import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import copy_store

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.errors import QueryError
from dispatch_analytics.metrics.fractiles import Fractiles
from dispatch_analytics.metrics.queries import (
    ensure_zone_views,
    get_query,
    install_macros,
    known_layers,
    list_queries,
    macro_statements,
    queries_dir,
    run_query,
)

EXPECTED = {
    "call_concurrency",
    "cross_area_responses",
    "data_quality",
    "first_due_reliability",
    "fractile_compliance",
    "hour_weekday_heatmap",
    "monthly_trend",
    "response_intervals",
    "station_busy_share",
    "unit_hour_utilization",
    "unit_hour_utilization_by_hour",
    "travel_observations",
    "unit_turnout",
}

#: parameters to run each query with on the sample store
PARAMS = {
    "response_intervals": {"layer": "station_areas"},
    "fractile_compliance": {
        "metric": "total_response",
        "layer": "station_areas",
        "period": "month",
        "target_s": "480",
    },
    "monthly_trend": {
        "metric": "turnout",
        "layer": "station_areas",
        "target_s": "60",
        "call_category": "ems",
    },
    "hour_weekday_heatmap": {
        "metric": "travel",
        "target_s": "240",
        "layer": "neighborhoods",
        "zone_id": "Mission",
    },
    "unit_turnout": {},
    "travel_observations": {},
    "first_due_reliability": {"station_layer": "station_areas", "period": "quarter"},
    "call_concurrency": {"source": "%sample_city%"},
    "cross_area_responses": {"station_layer": "station_areas", "from_date": "2024-01-01"},
    "station_busy_share": {"from_date": "2024-01-01", "to_date": "2024-02-01"},
    "unit_hour_utilization": {"from_date": "2024-01-01", "to_date": "2024-02-01"},
    "unit_hour_utilization_by_hour": {"from_date": "2024-01-01", "to_date": "2024-01-08"},
    "data_quality": {},
}


@pytest.fixture(scope="module")
def sample(two_agency_store, tmp_path_factory):
    store = Store(copy_store(two_agency_store, tmp_path_factory.mktemp("sample") / "store"))
    con = store.connect(read_only=False)
    H.add_zone_tables(con)
    yield con
    con.close()


def _code(sql: str) -> str:
    """SQL without comments and string literals."""
    no_comments = "\n".join(ln.split("--", 1)[0] for ln in sql.splitlines())
    return re.sub(r"'[^']*'", "''", no_comments)


# ----------------------------------------------------------------------------------- headers
def test_list_queries_parses_headers():
    qs = {q.name: q for q in list_queries()}
    assert set(qs) == EXPECTED
    fc = qs["fractile_compliance"]
    assert [p.name for p in fc.params] == [
        "metric",
        "layer",
        "period",
        "percentile",
        "target_s",
        "call_category",
        "min_n",
        "agency",
    ]
    p = {x.name: x for x in fc.params}
    assert p["percentile"].default == 90 and p["min_n"].default == 30
    assert p["metric"].required and p["target_s"].required and not p["layer"].required
    assert p["period"].choices == ("day", "week", "month", "quarter", "year")
    assert p["metric"].choices == (
        "alarm_answering",
        "call_processing",
        "turnout",
        "travel",
        "total_response",
    )
    assert {
        "zone_id",
        "n",
        "p50_s",
        "p90_s",
        "p95_s",
        "ci_low_s",
        "ci_high_s",
        "target_s",
        "compliance",
        "flag",
        "period_start",
    } <= set(fc.returns)
    assert fc.path == queries_dir() / "fractile_compliance.sql"
    assert "nearest-rank" in fc.description.lower()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_query_file_style(name):
    q = get_query(name)
    assert q.path.stem == name
    code = _code(q.sql)
    # lower-case keywords, CTEs named by stage, $param placeholders only
    assert not re.search(r"\b(SELECT|FROM|WHERE|WITH|GROUP BY|ORDER BY|JOIN|CASE|WHEN)\b", code)
    assert re.match(r"\s*with [a-z_]+ as \(", code), "start with a named CTE"
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", code))
    assert used == {p.name for p in q.params}, "every declared param is used, and only those"
    assert "?" not in code and not re.search(r"\$\d", code)
    assert q.returns, "a -- returns: header"


def test_macros_file_is_not_a_query_and_loads_read_only(tmp_path):
    assert all(not q.path.name.startswith("_") for q in list_queries())
    stmts = macro_statements()
    assert len(stmts) == 6 and all(" temp macro " in s for s in stmts)
    assert all(" temp " not in s for s in macro_statements(temporary=False))
    store = Store(tmp_path / "s")  # an empty store: read-only catalog connection
    con = store.connect(read_only=True)
    install_macros(con)  # temporary macros work on a read-only catalog
    assert con.execute("select da_nearest_rank([1.0, 2.0, 3.0], 50)").fetchone() == (2.0,)
    made = ensure_zone_views(con)  # placeholders only where the catalog lacks the views
    assert set(made) <= {"zones", "stations", "incident_zones", "incident_cells"}
    for name in ("zones", "stations", "incident_zones", "incident_cells"):
        assert con.execute(f"select count(*) from {name}").fetchone() == (0,)
    assert known_layers(con) == []
    out = run_query(con, "fractile_compliance", {"metric": "travel", "target_s": "240"})
    assert out.height == 0 and out.columns == get_query("fractile_compliance").returns
    con.close()


# -------------------------------------------------------------------------- running queries
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_query_runs_on_sample_data_and_returns_its_columns(sample, name):
    df = run_query(sample, name, PARAMS[name])
    assert df.columns == get_query(name).returns
    assert df.height > 0


def test_query_results_are_plausible(sample):
    q = run_query(sample, "data_quality", {})
    rej = q.filter((pl.col("section") == "rejects") & pl.col("source").str.contains("sample_city"))
    assert dict(zip(rej["item"], rej["n"], strict=True))["duplicate_row"] == 13
    assert rej["n"].sum() == 106  # the sample city's planted rows
    acc = q.filter((pl.col("section") == "ingest") & (pl.col("item") == "rows_accepted"))
    read = q.filter((pl.col("section") == "ingest") & (pl.col("item") == "rows_read"))
    rejected = q.filter((pl.col("section") == "ingest") & (pl.col("item") == "rows_rejected"))
    assert (acc["n"] + rejected["n"]).to_list() == read["n"].to_list()
    out = q.filter(pl.col("section") == "outside_zone")
    assert set(out["layer"]) == {"station_areas", "neighborhoods"}
    heat = run_query(sample, "hour_weekday_heatmap", {"metric": "total_response"})
    assert (
        heat.height == 168
        and heat["n"].sum()
        == sample.execute("select count(total_response_s) from incidents").fetchone()[0]
    )
    conc = run_query(sample, "call_concurrency", {"source": "%sample_city%"})
    assert (
        conc["n_incidents"].sum()
        == sample.execute(
            "select count(distinct incident_id) from responses where source like '%sample_city%'"
        ).fetchone()[0]
    )
    ut = run_query(sample, "unit_turnout", {"ems_target_s": "60"})
    assert set(ut["turnout_class"]) == {"ems", "fire"}
    assert ut.filter(pl.col("turnout_class") == "ems")["target_s"].unique().to_list() == [60.0]


def test_zone_view_placeholders_when_the_catalog_lacks_them():
    con = duckdb.connect()
    H.fake_catalog(con, pl.DataFrame({"incident_id": ["A"], "timezone": ["UTC"]}))
    assert set(ensure_zone_views(con)) == {
        "zones",
        "stations",
        "incident_zones",
        "incident_cells",
        "units",
    }
    assert ensure_zone_views(con) == []
    assert known_layers(con) == []
    q = run_query(con, "response_intervals", {})
    assert q["incident_id"].to_list() == ["A"] and q["zone_id"].to_list() == [None]
    with pytest.raises(
        QueryError, match="unknown layer 'x' for layer; valid layers: \\(none loaded\\)"
    ):
        run_query(con, "response_intervals", {"layer": "x"})


def test_call_concurrency_by_hand():
    con = duckdb.connect()
    t0 = dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
    inc = pl.DataFrame(
        {
            "incident_id": ["A", "B", "C", "D"],
            "call_received_at": [
                t0,
                t0 + dt.timedelta(minutes=5),
                t0 + dt.timedelta(minutes=30),
                t0 + dt.timedelta(minutes=30),
            ],
            "last_cleared_at": [
                t0 + dt.timedelta(minutes=31),
                t0 + dt.timedelta(minutes=10),
                t0 + dt.timedelta(minutes=40),
                None,
            ],
            "timezone": ["UTC"] * 4,
        }
    )
    H.fake_catalog(con, inc)
    r = run_query(con, "call_concurrency", {}).row(0, named=True)
    # A: none; B: A; C: A (B cleared at :10; D has no clear time); D: A and C
    assert (r["hour"], r["n_incidents"], r["max_concurrent"]) == (10, 4, 2)
    assert r["mean_concurrent"] == (0 + 1 + 1 + 2) / 4 and r["share_with_concurrent"] == 0.75
    assert r["p90_concurrent"] == 2


def test_monthly_trend_fills_months_and_change(sample):
    t = run_query(sample, "monthly_trend", {"metric": "total_response", "layer": "station_areas"})
    s = t.filter(pl.col("zone_id") == "S04").sort("month_start")
    assert s["change_s"][0] is None
    p, c = s["p_value_s"].to_list(), s["change_s"].to_list()
    pairs = [(p[i - 1], p[i], c[i]) for i in range(1, len(p))]
    assert all(ch == (b - a if a is not None and b is not None else None) for a, b, ch in pairs)
    assert sum(ch is not None for _, _, ch in pairs) >= 10
    assert s.filter(pl.col("n") == 0)["flag"].unique().to_list() == ["no_data"]
    # the mixed store spans Dec 2016 (SF slice) .. Jan 2025: every month listed per zone
    assert s.height == len({(m.year, m.month) for m in s["month_start"]})


# ---------------------------------------------------------------------------------- errors
def test_run_query_errors(sample):
    with pytest.raises(QueryError, match="unknown query 'p90'; known queries: call_concurrency"):
        run_query(sample, "p90", {})
    with pytest.raises(
        QueryError,
        match="unknown parameter 'pct'; valid parameters: metric, "
        "layer, period, percentile, target_s",
    ):
        run_query(sample, "fractile_compliance", {"metric": "travel", "pct": "90"})
    with pytest.raises(
        QueryError, match="missing required parameter 'target_s'.*valid parameters: metric"
    ):
        run_query(sample, "fractile_compliance", {"metric": "travel"})
    with pytest.raises(QueryError, match="parameter percentile must be a number, got 'high'"):
        run_query(
            sample,
            "fractile_compliance",
            {"metric": "travel", "target_s": "1", "percentile": "high"},
        )
    with pytest.raises(QueryError, match="parameter period must be one of day, week, month"):
        run_query(
            sample,
            "fractile_compliance",
            {"metric": "travel", "target_s": "1", "period": "fortnight"},
        )
    with pytest.raises(QueryError, match="parameter metric must be one of alarm_answering"):
        run_query(sample, "fractile_compliance", {"metric": "speed", "target_s": "1"})
    with pytest.raises(
        QueryError, match="unknown layer 'x' for layer; valid layers: neighborhoods, station_areas"
    ):
        run_query(sample, "response_intervals", {"layer": "x"})
    with pytest.raises(QueryError, match="unknown parameter 'x'; valid parameters: agency"):
        run_query(sample, "data_quality", {"x": "1"})
    with pytest.raises(QueryError, match="unknown agency 'Nowhere FD'; agencies in the store: "):
        run_query(sample, "data_quality", {"agency": "Nowhere FD"})


def test_param_coercion_and_nulls(sample):
    a = run_query(
        sample,
        "fractile_compliance",
        {"metric": "travel", "target_s": "240", "percentile": "95", "layer": "null", "period": ""},
    )
    b = run_query(
        sample, "fractile_compliance", {"metric": "travel", "target_s": 240, "percentile": 95}
    )
    assert a.equals(b) and a.height == 1 and a["percentile"][0] == 95.0


def test_queries_dir_env_override(tmp_path, monkeypatch, sample):
    (tmp_path / "mine.sql").write_text(
        "-- name: mine\n-- description: count\n-- params: k (default 2)\n-- returns: x\n"
        "with base as (select $k * 2 as x)\nselect x from base\n"
    )
    monkeypatch.setenv("DISPATCH_QUERIES_DIR", str(tmp_path))
    assert queries_dir() == tmp_path.resolve()
    assert [q.name for q in list_queries()] == ["mine"]
    assert run_query(sample, "mine", {"k": "5"})["x"].to_list() == [10]  # macros still found
    (tmp_path / "broken.sql").write_text("select 1\n")
    with pytest.raises(QueryError, match="no '-- name:' header"):
        list_queries()


def test_duckdb_quantile_disc_vs_nearest_rank():
    """quantile_disc is nearest-rank for DECIMAL literals, but not for a computed DOUBLE
    (99.9 / 100 = 0.9990000000000001): that is why the queries use da_nearest_rank."""
    con = duckdb.connect()
    install_macros(con)
    lit = con.execute("select quantile_disc(x, 0.999) from range(1, 1001) t(x)").fetchone()[0]
    dbl = con.execute(
        "select quantile_disc(x, $p / 100) from range(1, 1001) t(x)", {"p": 99.9}
    ).fetchone()[0]
    nr = con.execute(
        "select da_nearest_rank(list_sort(list(x)), $p) from range(1, 1001) t(x)", {"p": 99.9}
    ).fetchone()[0]
    assert (lit, dbl, nr) == (999, 1000, 999)
    # numpy's inverted_cdf has the same floating-point slip here (999.0000000000001 -> 1000);
    # for integer percentiles it equals nearest-rank (tests/test_metrics.py)
    assert np.percentile(np.arange(1, 1001), 99.9, method="inverted_cdf") == 1000
    assert np.percentile(np.arange(1, 1001), 99, method="inverted_cdf") == 990


# ------------------------------------------------------- the real SF week, by neighbourhood
STAGES = [
    "Received DtTm",
    "Entry DtTm",
    "Dispatch DtTm",
    "Response DtTm",
    "On Scene DtTm",
    "Transport DtTm",
    "Hospital DtTm",
    "Available DtTm",
]


def test_sf_week_by_neighbourhood_equals_pandas(tmp_path):
    root = tmp_path / "sf"
    ingest(str(H.SF_WEEK), load_profile("sffd"), data_dir=root)
    con = Store(root).connect(read_only=False)
    H.add_zone_tables(con, sf_csv=H.SF_WEEK)

    # independent: pandas on the raw CSV
    raw = pd.read_csv(H.SF_WEEK, dtype=str, keep_default_na=False)
    t = {
        c: pd.to_datetime(raw[c].where(raw[c] != ""), format="%m/%d/%Y %I:%M:%S %p") for c in STAGES
    }
    times = pd.DataFrame(t)
    # a row whose stages run backwards keeps the largest in-order set of its stages (received
    # always kept, ties keep the earlier stages); the others are excluded at ingest
    import itertools

    bad = np.zeros(len(raw), dtype=bool)
    for i, a in enumerate(STAGES):
        for b in STAGES[i + 1 :]:
            bad |= (times[b] < times[a]).to_numpy()
    assert bad.sum() == 28
    scene = times["On Scene DtTm"].copy()
    for r in np.flatnonzero(bad):
        present = [c for c in STAGES if pd.notna(times.at[r, c])]
        vals = [times.at[r, c] for c in present]
        keep = next(
            set(combo)
            for size in range(len(vals), 0, -1)
            for combo in itertools.combinations(range(len(vals)), size)
            if present.index("Received DtTm") in combo
            and all(vals[x] <= vals[y] for x, y in itertools.pairwise(combo))
        )
        if "On Scene DtTm" in present and present.index("On Scene DtTm") not in keep:
            scene.iat[r] = pd.NaT
    ok = raw.assign(rcvd=times["Received DtTm"], scene=scene)
    inc = ok.groupby("Incident Number").agg(
        rcvd=("rcvd", "min"), scene=("scene", "min"), zone=("Neighborhood  District", "first")
    )
    # local wall-clock differences are exact here: no DST change in this week
    inc["total"] = (inc["scene"] - inc["rcvd"]).dt.total_seconds()
    inc["zone"] = inc["zone"].where(~inc["zone"].isin(["", "None"]))  # "None" = blank

    def p90(v: np.ndarray) -> float:
        s = np.sort(v)
        return float(s[math.ceil(0.9 * len(s) - 1e-9) - 1])

    exp = {}
    for zone, g in inc.groupby("zone", dropna=False):
        v = g["total"].dropna().to_numpy()
        exp[zone if isinstance(zone, str) else None] = (
            len(v),
            p90(v) if len(v) else None,
            float(np.mean(v <= 480)) if len(v) else None,
        )
    assert len(exp) == 42 and None in exp  # 41 neighbourhoods and "outside"

    sql = run_query(
        con,
        "fractile_compliance",
        {"metric": "total_response", "layer": "neighborhoods", "target_s": "480"},
    )
    api = Fractiles.from_store(
        con, metric="total_response", by="layer:neighborhoods", target_s=480, profile=None
    ).table
    for table in (sql, api):
        got = {
            r["zone_id"]: (r["n"], r["p90_s"], r["compliance"]) for r in table.iter_rows(named=True)
        }
        assert got == exp
        for r in table.iter_rows(named=True):
            assert r["met"] == (r["compliance"] >= 0.9)
    con.close()


# ------------------------------------------------------------ the catalog, for any SQL client
def test_a_plain_client_on_the_catalog_has_the_macros_and_interval_views(
    two_agency_store, tmp_path
):
    """`duckdb -readonly catalog.duckdb`: the query files run as they are, with the catalog's
    own macros and the registry's long views (no runner, nothing installed)."""
    store = Store(copy_store(two_agency_store, tmp_path / "store"))
    con = duckdb.connect(str(store.catalog_path), read_only=True)
    names = {r[0] for r in con.execute("select function_name from duckdb_functions()").fetchall()}
    assert {"da_fractiles", "da_nearest_rank", "da_os_ci_ranks", "da_flag"} <= names
    assert con.execute("select da_nearest_rank([1.0, 2.0, 3.0], 50)").fetchone() == (2.0,)
    params = {"metric": "total_response", "layer": None, "period": "month", "percentile": 90.0}
    params |= {"target_s": 480.0, "call_category": None, "min_n": 30, "agency": None}
    plain = con.execute(get_query("fractile_compliance").sql, params).pl()
    assert plain.equals(run_query(store, "fractile_compliance", params))
    metrics = con.execute("select distinct metric from incident_intervals order by 1").fetchall()
    assert [m for (m,) in metrics] == sorted(get_query("fractile_compliance").params[0].choices)
    con.close()


def test_catalog_and_derived_table_follow_the_registry(tmp_path, monkeypatch):
    """A store written before an interval was added: its catalog is rebuilt (the SQL digest
    changed) and its derived table, lacking the column, is recomputed live."""
    from dispatch_analytics.schema import intervals as registry

    root = tmp_path / "store"
    ingest(str(H.CITY_CSV), load_profile(str(H.CITY_TOML)), data_dir=root)
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
    store = Store(root)
    q = run_query(store, "fractile_compliance", {"metric": "call_to_enroute", "target_s": "120"})
    n = store.sql("select count(first_enroute_at) as n from incidents")["n"][0]
    assert q["n"][0] == n > 500


def test_macros_are_created_once_per_connection(monkeypatch):
    from dispatch_analytics.metrics import queries as queries_mod

    made = []
    real = queries_mod.macro_statements
    monkeypatch.setattr(queries_mod, "macro_statements", lambda: made.append(1) or real())
    a, b = duckdb.connect(), duckdb.connect()
    for con in (a, a, b, a):
        install_macros(con)
        assert con.execute("select da_nearest_rank([1.0, 2.0, 3.0], 50)").fetchone() == (2.0,)
    assert len(made) == 2  # one per connection
