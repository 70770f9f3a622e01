"""Queries at the engine's speed: parameters rendered as literals (no pandas import on the
query path), frames fetched without pyarrow, and ``dispatch query`` start-up."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import duckdb
import metrics_helpers as H
import numpy as np
import polars as pl
import pytest
import stats_reference as R
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dispatch_analytics.metrics.queries import fetch_frame, inline_params, run_query

KINDS = [
    1,
    -7,
    2**40,
    2**70,
    0.1 + 0.2,
    99.9,
    1e-300,
    float("inf"),
    float("-inf"),
    "a",
    "it's $x -- not a comment",
    "",
    None,
    True,
    False,
    [1, 2],
    [1, 2**40],
    ["a", "b'c"],
    [0.5, 99.9],
    dt.date(2024, 2, 29),
    dt.datetime(2024, 3, 10, 2, 30, 15, 123456),
    dt.datetime(2024, 3, 10, 10, 30, tzinfo=dt.UTC),
]


@pytest.mark.parametrize("value", KINDS, ids=repr)
def test_a_literal_has_the_type_and_value_of_the_bound_parameter(value):
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    sql = "select typeof($x) as t, $x as v"
    bound = con.execute(sql, {"x": value}).fetchone()
    inlined = con.execute(inline_params(sql, {"x": value})).fetchone()
    assert inlined == bound


def test_nan_renders_as_nan():
    con = duckdb.connect()
    t, v = con.execute(
        inline_params("select typeof($x), isnan($x)", {"x": float("nan")})
    ).fetchone()
    assert (t, v) == ("DOUBLE", True)


def test_placeholders_inside_strings_comments_and_quoted_names_are_left_alone():
    sql = (
        "select $a as \"$a\", '$a' as s, 'it''s $a' as t -- $a here\n"
        "/* $a */ , $$ $a $$ as d, $ab as other, $a_b as third"
    )
    out = inline_params(sql, {"a": 1, "a_b": "x"})
    assert out == (
        "select 1 as \"$a\", '$a' as s, 'it''s $a' as t -- $a here\n"
        "/* $a */ , $$ $a $$ as d, $ab as other, 'x'::varchar as third"
    )


@pytest.mark.parametrize(
    "value",
    [[[1], [2]], [1, "a"], [], {"k": 1}, object()],
    ids=["nested", "mixed", "empty", "dict", "object"],
)
def test_values_it_cannot_render_are_bound_instead(value):
    assert inline_params("select $x", {"x": value}) is None
    con = duckdb.connect()
    if isinstance(value, list):  # the fallback binds them as before
        assert fetch_frame(con, "select $x as x", {"x": value}).height == 1


def test_fetch_frame_equals_execute_pl():
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    sql = (
        "select i, i * $f as d, 'z' || i as s, [i, i] as l, {'k': i} as st, "
        "date '2024-01-01' + i::int as day, $t::timestamptz as at, null as nothing, "
        "i % 2 = 0 as even from range($n) t(i) where $name is not null"
    )
    params = {"f": 0.5, "t": "2024-01-01 00:00:00+00", "n": 5, "name": "x"}
    assert_frame_equal(fetch_frame(con, sql, params), con.execute(sql, params).pl())
    empty = fetch_frame(con, "select 1::bigint as a where false")
    assert empty.height == 0 and empty.schema == pl.Schema({"a": pl.Int64})


def test_fetch_frame_raises_duckdb_errors_from_binding_and_from_running():
    con = duckdb.connect()
    with pytest.raises(duckdb.Error, match="not found"):
        fetch_frame(con, "select nope")
    with pytest.raises(duckdb.ConversionException, match="Could not convert string 'x'"):
        fetch_frame(con, "select v::int as a from (values ('1'), ($v)) t(v)", {"v": "x"})


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    store = H.sample_store(tmp_path_factory.mktemp("speed") / "store")
    con = store.connect(read_only=False)
    H.add_zone_tables(con)
    yield store, con
    con.close()


def test_run_query_gives_what_binding_gave(sample):
    _, con = sample
    from dispatch_analytics.metrics.queries import get_query, prepare

    params = {"metric": "travel", "layer": "station_areas", "period": "month", "target_s": 240}
    got = run_query(con, "fractile_compliance", params)
    prepare(con)
    bind = {
        "metric": "travel",
        "layer": "station_areas",
        "period": "month",
        "target_s": 240,
        "percentile": 90,
        "min_n": 30,
        "call_category": None,
        "agency": None,
    }
    want = con.execute(get_query("fractile_compliance").sql, bind).pl()
    assert got.height > 0
    assert_frame_equal(got, want)


CHECK = """
import json, os, sys
from dispatch_analytics.cli import main
rc = main(sys.argv[1:])
heavy = os.environ["HEAVY"].split(",")
print(json.dumps({"rc": rc, "loaded": [m for m in heavy if m in sys.modules]}), file=sys.stderr)
"""

_HEAVY = ["pandas", "geopandas", "shapely", "pyproj", "dash", "plotly", "scipy", "sklearn"]
_QUERY = [
    *("query", "fractile_compliance", "-p", "metric=total_response", "-p", "target_s=480"),
    *("-p", "period=month", "--agency", "Sample City FD", "--format", "json"),
]


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (_QUERY, _HEAVY),
        # start-up (issue 7): status opens the store without pyarrow (placeholders checked
        # with polars, rows fetched through the Arrow C stream); --help loads no data library
        (["status"], [*_HEAVY, "pyarrow"]),
        (["--help"], [*_HEAVY, "pyarrow", "polars", "duckdb", "numpy"]),
    ],
    ids=["query", "status", "help"],
)
def test_dispatch_query_imports_no_pandas_geopandas_or_dash(sample, args, heavy):
    store, _ = sample
    args = [*args, "--data-dir", str(store.root)] if args != ["--help"] else args
    res = subprocess.run(
        [sys.executable, "-c", CHECK, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HEAVY": ",".join(heavy)},
    )
    report = json.loads(res.stderr.strip().splitlines()[-1])
    assert report == {"rc": 0, "loaded": []}, res.stderr
    if args[0] == "query":
        assert json.loads(res.stdout)  # and it printed the rows
    else:
        assert ("Store status" if args[0] == "status" else "ingest") in res.stdout


# --------------------------------------------- the literal path through the fractile macro
VALUES = st.lists(
    st.one_of(st.none(), st.integers(0, 40).map(float), st.floats(0, 2000, allow_nan=False)),
    min_size=0,
    max_size=60,
)
PCTS = st.one_of(
    st.sampled_from([50, 70, 90, 95, 99, 99.9, 100, 0.1, 33.333333]),
    st.floats(0.01, 100, allow_nan=False),
)


@settings(max_examples=examples(60), deadline=None)
@given(values=VALUES, pct=PCTS, target=st.one_of(st.none(), st.integers(0, 2000)))
def test_inlined_fractiles_equal_nearest_rank_by_hand(values, pct, target):
    """The fractile macro fed through inlined literals (``$pct``, ``$target``, ``$min_n``)
    gives numpy-checked nearest-rank values, the same CI ranks and compliance, with ties,
    n = 0 and 1, NULLs (not counted: excluded) and p = 100 / exact rank boundaries."""
    from dispatch_analytics.metrics.fractile_sql import fractile_sql
    from dispatch_analytics.metrics.queries import install_macros

    con = duckdb.connect()
    install_macros(con)
    con.execute("create table v (g varchar, x double)")
    if values:
        con.executemany("insert into v values ('a', ?)", [[x] for x in values])
    rows = (
        "select g, x as value_s, $target::double as target_s, $pct::double as pct, "
        "case when x is null then 'missing on_scene_at' end as excluded_reason from v"
    )
    sql = fractile_sql("r", keys=["g"], percentiles=(50, 90), ctes=[("r", rows)], min_n="$min_n")
    params = {"pct": float(pct), "target": target, "min_n": 5}
    got = fetch_frame(con, sql, params)
    assert_frame_equal(got, con.execute(sql, params).pl())  # literal == bound
    xs = sorted(x for x in values if x is not None)
    if not values:
        assert got.height == 0
        return
    (row,) = got.to_dicts()
    assert row["n"] == len(xs) and row["n_missing"] == len(values) - len(xs)
    assert row["p_value_s"] == R.nearest_rank(xs, pct)
    if xs and float(pct).is_integer():
        assert row["p90_s"] == np.percentile(xs, 90, method="inverted_cdf")
    lo, hi = R.order_statistic_ci(len(xs), pct)
    assert row["ci_low_s"] == (xs[lo - 1] if lo else None)
    assert row["ci_high_s"] == (xs[hi - 1] if hi else None)
    if target is None or not xs:
        assert row["compliance"] is None
    else:
        assert row["compliance"] == sum(x <= target for x in xs) / len(xs)
