"""Reference implementations of the fractile statistics in pure Python / Polars.

The library computes every fractile with one DuckDB macro (``da_fractiles`` in
``dispatch_analytics/sql/_macros.sql``). These are the same rules written independently, for
the tests: they check that the SQL equals these, and these equal numpy / scipy / pandas.

Rules: nearest-rank percentile ``ceil(p / 100 * n)`` in exact integer arithmetic (p resolved to
1e-6 of a percent); distribution-free order-statistic CI ranks l = max{l: B(l-1) <= a},
u = min{u: B(u-1) >= 1-a} (B the binomial(n, p) CDF, a = (1 - conf) / 2, 1e-9 slack, ranks
outside 1..n are None); flag no_data / small_sample / ci_unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import polars as pl

from dispatch_analytics.errors import MetricError

__all__ = [
    "DEFAULT_MIN_N",
    "CIRanks",
    "nr_rank",
    "nearest_rank",
    "order_statistic_ci",
    "fractile_flag",
    "fractiles_polars",
]

DEFAULT_MIN_N = 30
CI_TOLERANCE = 1e-9
_PCT_SCALE = 1_000_000  # percentiles are resolved to 1e-6 of a percent


def _check_pct(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 100:
        raise MetricError(f"percentile must be a number in (0, 100], got {p!r}")
    return float(p)


def nr_rank(n: int, p: float) -> int | None:
    """1-based nearest-rank index of the p-th percentile (p in percent) among n values:
    ``ceil(p / 100 * n)`` in exact integer arithmetic; None when n = 0."""
    p = _check_pct(p)
    if n <= 0:
        return None
    pm = round(p * _PCT_SCALE)
    return max(1, -(-pm * n // (100 * _PCT_SCALE)))


def _clean(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        f = float(v)
        if math.isnan(f):
            continue
        out.append(f)
    return out


def nearest_rank(values: Iterable[Any], p: float) -> float | None:
    """The nearest-rank p-th percentile (p in percent): the smallest value with at least p% of
    the values at or below it. None / NaN values are ignored; None for no values. Equals
    ``numpy.percentile(values, p, method="inverted_cdf")``."""
    xs = sorted(_clean(values))
    r = nr_rank(len(xs), p)
    return None if r is None else xs[r - 1]


class CIRanks(NamedTuple):
    """1-based ranks of the CI bounds in the sorted sample; None = unbounded on that side."""

    low: int | None
    high: int | None


@lru_cache(maxsize=4096)
def order_statistic_ci(n: int, p: float, conf: float = 0.95) -> CIRanks:
    """Ranks (l, u) of the distribution-free ``conf`` confidence interval of the p-th percentile
    (p in percent) of n values: l is the largest rank with B(l - 1) <= a, u the smallest with
    B(u - 1) >= 1 - a, where B is the binomial(n, p / 100) CDF and a = (1 - conf) / 2, so
    P(X(l) <= Q_p <= X(u)) >= conf. Ranks outside 1..n (sample too small for that side) are
    None. Same arithmetic as the SQL macro ``da_os_ci_ranks`` (1e-9 slack on comparisons)."""
    p = _check_pct(p)
    if not 0 < conf < 1:
        raise MetricError(f"conf must be in (0, 1), got {conf!r}")
    if n <= 0 or p >= 100:
        return CIRanks(None, None)
    q = p / 100
    lq, l1q = math.log(q), math.log(1 - q)
    a = (1 - conf) / 2
    lo_lim, hi_lim = a + CI_TOLERANCE, 1 - a - CI_TOLERANCE
    lg_n = math.lgamma(n + 1)
    # the same window as the SQL macro: k within 12 sd (+10) of n q; below it B(k) < 1e-20
    sd = math.sqrt(n * q * (1 - q))
    k_lo = max(0, math.floor(n * q - 12 * sd - 10))
    k_hi = min(n, math.ceil(n * q + 12 * sd + 10))
    cdf, low, high = 0.0, k_lo, None
    for k in range(k_lo, k_hi + 1):
        cdf += math.exp(lg_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lq + (n - k) * l1q)
        if cdf <= lo_lim:
            low += 1
        if cdf >= hi_lim:
            high = k + 1
            break
    return CIRanks(low if low >= 1 else None, high if high is not None and high <= n else None)


def fractile_flag(n: int, min_n: int, ci_low: Any, ci_high: Any) -> str | None:
    """``no_data`` / ``small_sample`` / ``ci_unbounded`` / None (in that priority)."""
    if n == 0:
        return "no_data"
    if n < min_n:
        return "small_sample"
    if ci_low is None or ci_high is None:
        return "ci_unbounded"
    return None


def _pcol(p: float) -> str:
    return f"p{p:g}_s".replace(".", "_")


def fractiles_polars(
    df: pl.DataFrame,
    value_col: str,
    by: Sequence[str] = (),
    percentiles: Sequence[float] = (50, 90, 95),
    target_s: float | str | None = None,
    percentile: float = 90,
    min_n: int = DEFAULT_MIN_N,
    conf: float = 0.95,
) -> pl.DataFrame:
    """The fractile table in pure Polars (no DuckDB): one row per group of ``by``.

    Columns: ``by...``, n, n_missing (null / NaN values), mean_s (of finite values), ``p50_s``... for ``percentiles``,
    percentile, p_value_s (the ``percentile``-th), ci_low_s, ci_high_s (its CI), target_s,
    compliance (share <= target_s), met (p_value_s <= target_s), flag. ``target_s`` may be a
    number or the name of a column holding each row's target (constant within a group). Null
    and NaN values are not counted (a group of only those has n = 0). With ``by=()`` there is
    always exactly one row.
    """
    for p in [*percentiles, percentile]:
        _check_pct(p)
    by = list(by)
    tcol = target_s if isinstance(target_s, str) else None
    d = df.select(
        *[pl.col(c) for c in by],
        pl.col(value_col).cast(pl.Float64).fill_nan(None).alias("_v"),
        (pl.col(tcol) if tcol else pl.lit(target_s)).cast(pl.Float64).alias("_t"),
    )
    aggs = [
        pl.col("_v").count().alias("n"),
        pl.col("_v").null_count().alias("n_missing"),
        pl.col("_v").filter(pl.col("_v").is_finite()).mean().alias("mean_s"),
        (pl.col("_v") <= pl.col("_t")).sum().alias("_ok"),
        pl.col("_t").first().alias("target_s"),
    ]
    xs = pl.col("_v").drop_nulls().sort().alias("_xs")
    g = d.group_by(by).agg(*aggs, xs) if by else d.select(*aggs, xs.implode())
    rows = []
    for r in g.iter_rows(named=True):
        xs, n = r["_xs"], r["n"]
        out = {c: r[c] for c in by}
        out["n"] = n
        out["n_missing"] = r["n_missing"]
        out["mean_s"] = r["mean_s"]
        for p in percentiles:
            k = nr_rank(n, p)
            out[_pcol(p)] = xs[k - 1] if k else None
        k = nr_rank(n, percentile)
        out["percentile"] = float(percentile)
        out["p_value_s"] = xs[k - 1] if k else None
        lo, hi = order_statistic_ci(n, percentile, conf)
        out["ci_low_s"] = xs[lo - 1] if lo else None
        out["ci_high_s"] = xs[hi - 1] if hi else None
        t = r["target_s"]
        out["target_s"] = t
        out["compliance"] = r["_ok"] / n if n > 0 and t is not None else None
        out["met"] = (
            (out["p_value_s"] <= t) if out["p_value_s"] is not None and t is not None else None
        )
        out["flag"] = fractile_flag(n, min_n, out["ci_low_s"], out["ci_high_s"])
        rows.append(out)
    schema: dict[str, Any] = {c: df.schema[c] for c in by}
    schema.update({"n": pl.Int64, "n_missing": pl.Int64, "mean_s": pl.Float64})
    schema.update({_pcol(p): pl.Float64 for p in percentiles})
    schema.update(
        {
            "percentile": pl.Float64,
            "p_value_s": pl.Float64,
            "ci_low_s": pl.Float64,
            "ci_high_s": pl.Float64,
            "target_s": pl.Float64,
            "compliance": pl.Float64,
            "met": pl.Boolean,
            "flag": pl.String,
        }
    )
    out = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return out.sort(by, nulls_last=True) if by else out
