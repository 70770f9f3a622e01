"""The SQL console (dashboard) and `dispatch sql`: every view and saved query runs, every type
shows, limits hold, anything but a query is refused, and 20 users at once see no error."""

from __future__ import annotations

import glob
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import requests
from live_server import live_server, sql_run_body
from typer.testing import CliRunner

from dash_app.sql_console import run_console_sql
from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.cli import app as cli_app
from dispatch_analytics.errors import QueryError
from dispatch_analytics.metrics.queries import list_queries
from dispatch_analytics.sample.city import generate_city
from dispatch_analytics.store.console import SqlSandbox, check_read_only, read_only_query

runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A sample city with two zone layers and stations: every view has rows."""
    from dispatch_analytics.spatial.stations import load_stations
    from dispatch_analytics.spatial.zones import load_zones

    root = tmp_path_factory.mktemp("console")
    c = generate_city(root / "city", n_incidents=300, seed=3)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    load_zones(root / "store", c.station_areas_geojson, "station_areas", "station_id")
    load_zones(root / "store", c.battalions_geojson, "battalions", "battalion_id")
    load_stations(root / "store", c.stations_geojson, id_field="station_id")
    return root / "store", c


def _run(store: Path, sql: str, **kw):
    return run_console_sql(store / "catalog.duckdb", store / "lake", sql, **kw)


def _views(store: Path) -> list[str]:
    con = Store(store).connect()
    try:
        return [
            r[0]
            for r in con.execute(
                "select view_name from duckdb_views() where not internal order by 1"
            ).fetchall()
        ]
    finally:
        con.close()


@pytest.mark.slow  # every catalog view; fast: test_every_saved_query_runs_in_the_console
def test_every_catalog_view_runs_in_the_console(city):
    store, _ = city
    views = _views(store)
    assert {"incidents", "responses", "zones", "incident_zones", "stations", "units"} <= set(views)
    st = Store(store)
    for v in views:
        res = _run(store, f"select count(*) as n from {v}")
        assert res.error is None, (v, res.error)
        assert res.frame["n"][0] == st.sql(f"select count(*) as n from {v}")["n"][0], v
        rows = _run(store, f"select * from {v} limit 3")
        assert rows.error is None, (v, rows.error)
    # independent: incidents = distinct (agency, incident_id) of the stored unit rows
    r = pd.concat(pd.read_parquet(p) for p in glob.glob(f"{store}/lake/batches/*/responses-*"))
    n_inc = _run(store, "select count(*) as n from incidents").frame["n"][0]
    assert n_inc == len(r[["agency", "incident_id"]].drop_duplicates())
    # every incident_zones.zone_id is a zone of its layer
    bad = _run(
        store,
        "select count(*) as n from incident_zones iz anti join zones z "
        "using (layer, zone_id) where iz.zone_id is not null",
    )
    assert bad.frame["n"][0] == 0


def test_select_star_from_incidents_shows_local_time_with_offset(city):
    store, c = city
    res = _run(store, "select incident_id, call_received_at from incidents order by 1 limit 3")
    assert res.error is None, res.error
    tz = load_profile(c.mapping_toml).timezone
    assert res.timezone == tz
    raw = (
        Store(store)
        .sql("select incident_id, call_received_at from incidents order by 1 limit 3")
        .to_pandas()
    )
    want = [
        t.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S%z")[:-2]
        + ":"
        + t.tz_convert(tz).strftime("%z")[-2:]
        for t in pd.to_datetime(raw["call_received_at"], utc=True)
    ]
    assert res.frame["call_received_at"].to_list() == want
    assert _run(store, "select * from incidents limit 3").frame.height == 3


def _fill(q, layer="station_areas"):
    """Values for a saved query's parameters: defaults, a zone layer, the first choice."""
    params = {}
    for p in q.params:
        v = p.default
        if v is None and "layer" in p.name:
            v = layer
        elif v is None and p.choices:
            v = p.choices[0]
        params[p.name] = v
    return {k: v for k, v in params.items() if f"${k}" in q.sql}


def test_every_saved_query_runs_in_the_console(city):
    store, _ = city
    queries = list_queries()
    assert len(queries) >= 10
    for q in queries:
        res = _run(store, q.sql, params=_fill(q))
        assert res.error is None, (q.name, res.error)


def test_nested_binary_and_odd_types_render_as_text(city):
    store, _ = city
    sql = (
        "select [1, 2] as l, {'a': 1, 'b': 'x'} as s, map([1], [2]) as m, "
        "'\\x00ab'::blob as b, interval 3 day as i, "
        "'5f0e3c6e-6c2b-4f3a-9a4e-2d5f7b8c9d0e'::uuid as u, 1.25::decimal(5, 2) as d, "
        "time '10:00:00' as t, 123456789012345678901234::hugeint as h, [1, 2]::int[2] as a, "
        "'101'::bit as bits, union_value(k := 1) as un, null::int[] as nl"
    )
    res = _run(store, sql)
    assert res.error is None, res.error
    got = res.frame.row(0, named=True)
    assert got == {
        "l": "[1, 2]",
        "s": "{'a': 1, 'b': x}",
        "m": "{1=2}",
        "b": "\\x00ab",
        "i": "3 days",
        "u": "5f0e3c6e-6c2b-4f3a-9a4e-2d5f7b8c9d0e",
        "d": 1.25,
        "t": "10:00:00",
        "h": "123456789012345678901234",
        "a": "[1, 2]",
        "bits": "101",
        "un": "1",
        "nl": None,
    }
    # the dashboard's table gets JSON-serialisable rows
    from dash_app.components import table_props

    data, _cols = table_props(res.frame)
    json.dumps(data)
    # two columns of one name cannot be cast apart: a clear message
    dup = _run(store, "select [1] as x, [2] as x")
    assert dup.error and "`x`" in dup.error and "as" in dup.error


def test_row_byte_memory_and_time_limits(city):
    store, _ = city
    rows = _run(store, "select * from range(100)", row_limit=10)
    assert rows.frame.height == 10 and rows.truncated == "rows"
    whole = _run(store, "select * from range(100)", row_limit=100)
    assert whole.frame.height == 100 and not whole.truncated
    big = _run(
        store,
        "select repeat('x', 10000) as s from range(100000)",
        row_limit=10**9,
        max_bytes=2_000_000,
    )
    assert big.truncated == "bytes" and 0 < big.frame.height <= 200
    assert big.frame["s"].str.len_bytes().sum() <= 2_000_000
    oom = _run(
        store,
        "select list(repeat('x', 100) || i::varchar) from range(20000000) t(i)",
        memory_limit="64MB",
    )
    assert oom.error and "memory" in oom.error and "sql_memory_limit" in oom.error
    slow = _run(store, "select count(*) from range(100000000000) a", timeout_s=0.5)
    assert slow.error and "longer than" in slow.error


def test_console_reads_the_store_files_and_nothing_else(city, tmp_path):
    store, _ = city
    lake = _run(
        store,
        f"select count(*) as n from read_parquet('{store}/lake/batches/*/ingest_log.parquet')",
    )
    assert lake.error is None and lake.frame["n"][0] >= 1
    zones = _run(
        store, f"select count(*) as n from read_parquet('{store}/spatial/zones/*.parquet')"
    )
    assert zones.error is None
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql in (
        f"select * from read_csv('{secret}')",
        "select * from read_text('/etc/passwd')",
        f"select * from read_parquet('{store}/../secret.parquet')",
    ):
        res = _run(store, sql)
        assert res.frame is None and res.error.startswith(("Refused", "SQL error")), sql
    for sql in ("load spatial", "install httpfs", "set threads = 64", "pragma version"):
        res = _run(store, sql)
        assert res.error and "read-only" in res.error, sql


def test_the_console_follows_a_rebuilt_catalog_and_new_batches(city, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(city[0], store)
    before = _run(store, "select count(*) as n from ingest_log").frame["n"][0]
    c = city[1]
    extra = tmp_path / "extra.csv"
    lines = c.incidents_csv.read_text().splitlines()
    extra.write_text("\n".join(lines[:1] + [ln.replace("24-", "25-", 1) for ln in lines[1:20]]))
    ingest(extra, load_profile(c.mapping_toml), data_dir=store)
    after = _run(store, "select count(*) as n from ingest_log").frame["n"][0]
    assert after == before + 1


READ_ONLY_REFUSED = {
    "COPY": "copy (select 1) to '{out}'",
    "ATTACH": "attach '{db}' as x",
    "EXPORT": "export database '{dir}'",
    "INSTALL": "install spatial",
    "LOAD": "load spatial",
    "PRAGMA": "pragma database_list",
    "SET": "set threads = 1",
    "CREATE": "create table t as select 1",
    "INSERT": "insert into t values (1)",
}


@pytest.mark.parametrize("kind", sorted(READ_ONLY_REFUSED))
def test_dispatch_sql_refuses_anything_but_a_query(city, tmp_path, kind):
    store, _ = city
    sql = READ_ONLY_REFUSED[kind].format(
        out=tmp_path / "o.csv", db=tmp_path / "x.db", dir=tmp_path / "exp"
    )
    res = runner.invoke(cli_app, ["sql", sql, "--data-dir", str(store)])
    assert res.exit_code == 1
    assert isinstance(res.exception, QueryError)
    assert "`dispatch sql` is read-only" in str(res.exception)
    assert not list(tmp_path.iterdir())  # nothing was written
    with pytest.raises(QueryError, match="read-only"):
        check_read_only(sql)


def test_check_read_only_messages():
    with pytest.raises(QueryError, match="needs a query"):
        check_read_only("  ;")
    with pytest.raises(QueryError, match="one statement at a time"):
        check_read_only("select 1; select 2")
    with pytest.raises(QueryError, match="SQL error"):
        check_read_only("selec 1")
    assert check_read_only("select 1;") == "select 1"
    assert check_read_only("from range(3)") == "from range(3)"


def test_dispatch_sql_csv_and_json_with_nested_columns(city):
    store, _ = city
    sql = "select [1, 2] as l, {'a': 1} as s, interval 1 day as i, 2 as n"
    csv = runner.invoke(cli_app, ["sql", sql, "-f", "csv", "--data-dir", str(store)])
    assert csv.exit_code == 0, csv.output
    assert csv.output.splitlines() == ["l,s,i,n", "\"[1, 2]\",{'a': 1},1 day,2"]
    js = runner.invoke(cli_app, ["sql", sql, "-f", "json", "--data-dir", str(store)])
    assert json.loads(js.output) == [{"l": [1, 2], "s": {"a": 1}, "i": "1 day", "n": 2}]
    table = runner.invoke(
        cli_app, ["sql", "select * from incidents limit 3", "--data-dir", str(store)]
    )
    assert table.exit_code == 0, table.output
    bad = runner.invoke(cli_app, ["sql", "select 1", "-f", "xml", "--data-dir", str(store)])
    assert bad.exit_code == 2
    frame = read_only_query(Store(store), "select [1] as l", nested=True)
    assert frame["l"].to_list() == [[1]]


def test_pytz_is_installed_for_timestamptz_to_python():
    # DuckDB hands TIMESTAMPTZ values to Python through pytz (a declared dependency)
    value = duckdb.connect().execute("select timestamptz '2024-01-01 00:00:00+00'").fetchone()
    assert value[0].year == 2024


def test_sandbox_connections_are_independent(city):
    store, _ = city
    box = SqlSandbox.from_store(Store(store), memory_limit="256MB", threads=1)
    with ThreadPoolExecutor(8) as pool:  # two runs per thread
        frames = list(
            pool.map(lambda i: box.run(f"select {i} as i, count(*) as n from incidents"), range(16))
        )
    assert [f.frame["i"][0] for f in frames] == list(range(16))
    assert len({f.frame["n"][0] for f in frames}) == 1


@pytest.mark.slow
def test_twenty_concurrent_console_users_against_a_live_server(tmp_path):
    """20 users at once through `dispatch serve` on loopback: every request answers."""
    c = generate_city(tmp_path / "city", n_incidents=300, seed=4)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=tmp_path / "store")
    queries = [
        "select * from incidents limit 3",
        "select call_category, count(*) as n from incidents group by 1 order by 1",
        "select * from ingest_log",
        "select [1, 2] as l, interval 1 day as i, '\\x00'::blob as b",
    ]
    with live_server(tmp_path / "store") as url:
        requests.get(url + "/", timeout=30).raise_for_status()

        def one(i):
            r = requests.post(
                url + "/_dash-update-component",
                json=sql_run_body(queries[i % len(queries)]),
                timeout=120,
            )
            return r.status_code, r.json() if r.status_code == 200 else r.text

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(one, range(20)))
    for status, body in results:
        assert status == 200, body
        resp = body["response"]
        assert resp["sql-error"]["children"] == "", resp["sql-error"]
        assert resp["sql-result"]["data"], resp
