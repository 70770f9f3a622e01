"""The ``da_fractiles`` macro without a whole-group sort (``sql/_macros.sql``).

Two proofs, both with hypothesis:

1. ``quantile_disc`` at ``da_fraction(pct)`` (an exact DECIMAL fraction) picks the nearest-rank
   value: the 1-based rank ``ceil(n * pct / 100)`` in exact integer arithmetic (pct resolved to
   1e-6 of a percent), checked against a brute force over ``numpy.sort`` with the rank from
   ``fractions.Fraction``, and against ``da_nearest_rank`` of the sorted list; ties and +inf
   values included.
2. The new macro gives results identical to the one it replaced (a copy of which is kept in
   ``tests/data/fractile_macro/da_fractiles_ref.sql`` as ``da_fractiles_ref``: a full
   ``list_sort`` per group) on random groups with empty groups, one row, all ties,
   placeholders, excluded rows, +inf values, per-group percentiles inside and outside the
   constant list, and groups large enough for each band (+/- 1 and +/- 5 percent) and for the
   fall-back.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_analytics.metrics.fractile_sql import fractile_sql
from dispatch_analytics.metrics.queries import install_macros

REF = Path(__file__).parent / "data" / "fractile_macro" / "da_fractiles_ref.sql"

# realistic and awkward percentiles: decimals that are not exact in binary (33.3, 99.9, 0.1),
# the p = 70, n = 10 trap (0.7 * 10 = 7.000000000000001), thirds, the ends of the range
PCTS = [
    90,
    95,
    99,
    99.9,
    99.99,
    50,
    70,
    80,
    33.3,
    66.7,
    0.1,
    1,
    10,
    12.5,
    57,
    100 / 3,
    200 / 3,
    29,
    58,
    14.000001,
    0.000001,
    100,
]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    install_macros(c)
    c.execute(REF.read_text())
    yield c
    c.close()


def brute_rank(n: int, pct: float) -> int:
    """The nearest rank, exactly: ceil(n * p) with p = round(pct * 1e6) / 1e8 as a fraction."""
    p = Fraction(round(pct * 1_000_000), 100_000_000)
    return max(1, math.ceil(n * p))


# ------------------------------------------------------------------ 1. quantile_disc is exact
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2000),
    spread=st.sampled_from([1, 3, 50, 10**6]),
    n_inf=st.integers(0, 5),
    pcts=st.lists(st.sampled_from(PCTS), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_quantile_disc_at_da_fraction_is_nearest_rank(con, n, spread, n_inf, pcts, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, spread, n).astype(float)  # spread 1: all ties
    values[: min(n_inf, n)] = math.inf  # never reached
    rng.shuffle(values)
    df = pl.DataFrame({"v": values})
    con.register("qd_values", df)
    lit = "[" + ", ".join(repr(float(p)) for p in pcts) + "]::double[]"
    got, by_list = con.execute(
        f"select quantile_disc(v, list_transform({lit}, p -> da_fraction(p))),"
        f" list_transform({lit}, p -> da_nearest_rank(list_sort(list(v)), p)) from qd_values"
    ).fetchone()
    srt = np.sort(values)
    want = [float(srt[brute_rank(n, p) - 1]) for p in pcts]
    assert got == want
    assert by_list == want
    con.unregister("qd_values")


def test_the_known_traps(con):
    # p = 70, n = 10 is rank 7 (never 8); 99.9 of 1000 is rank 999 (99.9 / 100 as a DOUBLE,
    # 0.9990000000000001, gives 1000);
    # 300/7 is resolved to 42.857143 percent (1e-6 of a percent), so 7 values give rank 4
    for n, pct, rank in [(10, 70, 7), (1000, 99.9, 999), (3, 33.3, 1), (7, 300 / 7, 4)]:
        got = con.execute(
            f"select quantile_disc(v, da_fraction({pct!r})) from "
            f"(select unnest(range(1, {n} + 1))::double as v)"
        ).fetchone()[0]
        assert got == rank, (n, pct)
        assert brute_rank(n, pct) == rank


def test_da_rank_matches_the_fraction_clamped(con):
    # the band ends step outside [0, 100]: da_rank clamps like da_fraction
    rows = con.execute(
        "select da_rank(10, -4), da_rank(10, 0), da_rank(10, 104), da_rank(0, 50), "
        "da_fraction(-4), da_fraction(104)"
    ).fetchone()
    assert rows[:4] == (1, 1, 10, None)
    assert float(rows[4]) == 0 and float(rows[5]) == 1


# --------------------------------------------------- 2. the new macro equals the full sort
PCT_ROWS = [90.0, 50.0, 95.0, 80.0, 99.9, 33.3]  # 80, 99.9, 33.3: not in `percentiles`
SIZES = [0, 1, 2, 3, 10, 29, 30, 31, 100, 150, 400, 1000, 4000]


def _groups_frame(groups, seed) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for g, (n, pct, spread, share_inf, share_excl, share_missing, targets) in enumerate(groups):
        vals = rng.integers(0, spread, n).astype(float)
        vals[rng.random(n) < share_inf] = math.inf
        excl = np.where(rng.random(n) < share_excl, "missing on_scene_at", None)
        excl = np.where(rng.random(n) < share_missing, "missing enroute_at", excl)
        value = [
            None if (e == "missing enroute_at") else float(v)
            for v, e in zip(vals, excl, strict=True)
        ]
        tgt = [
            None if targets == "none" else (480.0 if targets == "one" else float(t))
            for t in rng.integers(200, 700, n)
        ]
        out += [
            {"g": g, "value_s": v, "target_s": t, "pct": pct, "excluded_reason": e}
            for v, t, e in zip(value, tgt, excl, strict=True)
        ]
        # a placeholder row: the group appears even when n = 0
        out.append(
            {"g": g, "value_s": None, "target_s": 480.0, "pct": pct, "excluded_reason": None}
        )
    return pl.DataFrame(
        out,
        schema={
            "g": pl.Int64,
            "value_s": pl.Float64,
            "target_s": pl.Float64,
            "pct": pl.Float64,
            "excluded_reason": pl.String,
        },
    )


group_spec = st.tuples(
    st.sampled_from(SIZES),
    st.sampled_from(PCT_ROWS),
    st.sampled_from([1, 2, 5, 60, 10**6]),  # 1: all ties
    st.sampled_from([0.0, 0.0, 0.05, 0.3]),  # +inf (never reached)
    st.sampled_from([0.0, 0.1]),
    st.sampled_from([0.0, 0.05]),
    st.sampled_from(["one", "none", "mixed"]),
)


def _compare(con, df: pl.DataFrame, percentiles: str, conf: str = "", extra: str = "") -> None:
    con.register("fm_rows", df)
    con.execute(
        "create or replace temp table fm as select {'g': g} as grp, value_s, target_s, pct, "
        "excluded_reason from fm_rows"
    )
    con.unregister("fm_rows")
    order = " order by grp, percentile"
    new = con.execute(
        f"select * from da_fractiles(fm, percentiles := {percentiles}{conf}{extra}){order}"
    ).pl()
    ref = con.execute(
        f"select * from da_fractiles_ref(fm, percentiles := {percentiles}{conf}){order}"
    ).pl()
    assert new.schema == ref.schema
    assert new.to_dicts() == ref.to_dicts()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.lists(group_spec, min_size=1, max_size=6),
    percentiles=st.sampled_from(["[50, 90, 95]", "[90]", "[]::double[]", "[99.9, 33.3, 50]"]),
    conf=st.sampled_from(["", ", conf := 0.9", ", conf := 0.99"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_new_macro_equals_the_full_sort(con, groups, percentiles, conf, seed):
    _compare(con, _groups_frame(groups, seed), percentiles, conf)


def test_every_path_large_groups(con):
    # n = 20,000 at p90: the +/- 1 band; n = 1,000: the +/- 5 band; n = 50: the fall-back;
    # pct 80 (not a row percentile): the whole sort; an all-+inf tail; one row; all ties
    groups = [
        (20_000, 90.0, 10**6, 0.0, 0.01, 0.01, "one"),
        (20_000, 90.0, 300, 0.12, 0.0, 0.0, "mixed"),  # ties and +inf at the CI ranks
        (1_000, 90.0, 10**6, 0.0, 0.0, 0.0, "one"),
        (1_000, 50.0, 40, 0.0, 0.0, 0.0, "none"),
        (50, 95.0, 10**6, 0.0, 0.0, 0.0, "one"),
        (5_000, 80.0, 10**6, 0.0, 0.0, 0.0, "one"),
        (1, 90.0, 5, 0.0, 0.0, 0.0, "one"),
        (3_000, 90.0, 1, 0.0, 0.0, 0.0, "one"),
        (0, 90.0, 5, 0.0, 0.0, 0.0, "one"),
    ]
    df = _groups_frame(groups, seed=7)
    _compare(con, df, "[50, 90, 95]")
    _compare(con, df, "[50, 90, 95]", extra=", row_percentiles := [90, 80, 50, 95]")
    # which band each group took (the CTE logic, recomputed here from n and the CI ranks)
    bands = con.execute(
        "with g as (select grp, pct, count(*) filter (where excluded_reason is null and "
        "value_s is not null) as n from fm group by all), c as (select * from da_os_ci_ranks("
        "(select list({'n': n, 'pct': pct}) from g))) select g.grp.g, g.n, "
        "c.ci_low_rank >= da_rank(g.n, g.pct - 1) and c.ci_high_rank <= da_rank(g.n, g.pct + 1) "
        "as band1, c.ci_low_rank >= da_rank(g.n, g.pct - 5) and c.ci_high_rank <= "
        "da_rank(g.n, g.pct + 5) as band5 from g left join c on c.n = g.n and c.pct = g.pct "
        "order by 1"
    ).fetchall()
    band1 = {g for g, _, b1, _ in bands if b1}
    band5 = {g for g, _, b1, b5 in bands if b5 and not b1}
    assert {0, 1} <= band1 and {2, 3} <= band5 and 4 not in band1 | band5


def test_null_group_and_null_pct(con):
    df = pl.DataFrame(
        {
            "grp": [None, None, 1, 1, 2],
            "value_s": [1.0, 2.0, 3.0, 4.0, 5.0],
            "target_s": [3.0] * 5,
            "pct": [90.0, 90.0, None, None, 90.0],
            "excluded_reason": [None] * 5,
        }
    )
    con.register("fm_nulls", df)
    q = "select * from {m}(fm_nulls, percentiles := [50, 90]) order by grp nulls first, percentile"
    new = con.execute(q.format(m="da_fractiles")).pl()
    ref = con.execute(q.format(m="da_fractiles_ref")).pl()
    con.unregister("fm_nulls")
    assert new.to_dicts() == ref.to_dicts()


def test_fractile_sql_passes_row_percentiles(con):
    sql = fractile_sql("src", ["k"], (50, 90), row_percentiles=(90, 80))
    assert "row_percentiles := [90.0, 80.0]::double[]" in sql
    con.execute(
        "create or replace temp table src as select range % 3 as k, (range * 7 % 101)::double "
        "as value_s, 50.0 as target_s, case when range % 2 = 0 then 90.0 else 80.0 end as pct, "
        "null::varchar as excluded_reason from range(3000)"
    )
    got = con.execute(sql).pl()
    ref = con.execute(
        sql.replace("da_fractiles(", "da_fractiles_ref(").replace(
            ", row_percentiles := [90.0, 80.0]::double[]", ""
        )
    ).pl()
    assert got.to_dicts() == ref.to_dicts()
    with pytest.raises(ValueError, match="percentile"):
        fractile_sql("src", ["k"], (50,), row_percentiles=(120,))
