"""``quantile_disc`` at ``da_fraction(pct)`` is the nearest rank (``sql/_macros.sql``).

Proved with hypothesis: ``quantile_disc`` at ``da_fraction(pct)`` (an exact DECIMAL fraction)
picks the nearest-rank value, the 1-based rank ``ceil(n * pct / 100)`` in exact integer
arithmetic (pct resolved to 1e-6 of a percent), checked against a brute force over
``numpy.sort`` with the rank from ``fractions.Fraction`` and against ``da_nearest_rank`` of the
sorted list; ties and +inf values included.

A ``da_fractiles`` built on it (fractiles through ``quantile_disc``, the CI from a sorted band
of values around the percentile) was proved identical to the sorting macro and measured no
faster (slower at 1M incidents): it is in commit 4c3bcea with its tests, not in the package
(``docs/benchmarks.md``, "The fractile macro without the sort").
"""

from __future__ import annotations

import math
from fractions import Fraction

import duckdb
import numpy as np
import polars as pl
import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_analytics.metrics.queries import install_macros

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
    yield c
    c.close()


def brute_rank(n: int, pct: float) -> int:
    """The nearest rank, exactly: ceil(n * p) with p = round(pct * 1e6) / 1e8 as a fraction."""
    p = Fraction(round(pct * 1_000_000), 100_000_000)
    return max(1, math.ceil(n * p))


# ------------------------------------------------------------------ 1. quantile_disc is exact
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
