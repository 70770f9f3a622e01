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
