"""The rules every fractile follows: method names, defaults and periods.

The numbers themselves come from one place, the DuckDB macro ``da_fractiles`` of
``sql/_macros.sql`` (see :mod:`.fractile_sql`).
"""

from __future__ import annotations

from ..errors import MetricError
from .standards import PERCENTILE_METHOD

__all__ = [
    "METHOD",
    "CI_METHOD",
    "DEFAULT_MIN_N",
    "PERIODS",
    "check_pct",
    "nr_rank",
]

METHOD = PERCENTILE_METHOD
CI_METHOD = (
    "distribution-free order-statistic CI: ranks l = max{l: B(l-1) <= a}, "
    "u = min{u: B(u-1) >= 1-a}, B = binomial(n, p) CDF, a = (1-conf)/2; "
    "NULL bound when its rank is outside 1..n"
)
DEFAULT_MIN_N = 30
PERIODS = ("day", "week", "month", "quarter", "year")


def check_pct(p: float) -> float:
    """``p`` as a float; :class:`MetricError` unless it is a number in (0, 100]."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 100:
        raise MetricError(f"percentile must be a number in (0, 100], got {p!r}")
    return float(p)


_PCT_SCALE = 1_000_000  # percentiles are resolved to 1e-6 of a percent, as in da_nearest_rank


def nr_rank(n: int, p: float) -> int | None:
    """1-based nearest-rank index of the p-th percentile (p in percent) among n values:
    ``ceil(p / 100 * n)`` in exact integer arithmetic (the rule of the SQL macro
    ``da_nearest_rank``); None when n = 0.

    The SQL computes every reported percentile; this index serves numpy code that must pick
    the same order statistic from many resamples at once (the bootstrap of
    :mod:`dispatch_analytics.analysis.impact`), where a SQL round trip per resample would
    cost ~1,000x more.
    """
    p = check_pct(p)
    if n <= 0:
        return None
    pm = round(p * _PCT_SCALE)
    return max(1, -(-pm * n // (100 * _PCT_SCALE)))
