"""People's formats: one module for every surface that shows numbers to a person.

The CLI tables, the report, the dashboard and the exports' README sheets format values through
these functions, so a duration reads the same everywhere (``12:06``, never ``726 s`` or
``726.0``), a share is a percentage, a count has thousands separators. Machine outputs (CSV,
JSON, Parquet) keep the raw values: seconds as numbers, shares as fractions.

Layer 0: imports nothing of the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

__all__ = [
    "MISSING",
    "duration",
    "share",
    "count",
    "number",
    "value",
    "label",
    "LABELS",
    "is_duration_column",
    "is_share_column",
    "GLOSSARY",
    "definition",
    "duration_ticks",
    "padded",
]

#: What a missing value looks like to a person (never ``None``, ``null``, ``nan`` or ``inf``).
MISSING = "–"

#: Human labels of column names used across outputs (a glossary entry per name).
LABELS: dict[str, str] = {
    "n": "n",
    "n_missing": "excluded",
    "n_excluded": "excluded",
    "n_unmet": "never assembled",
    "mean_s": "mean",
    "p50_s": "median",
    "p90_s": "90th pct",
    "p95_s": "95th pct",
    "p_value_s": "percentile value",
    "p_s": "percentile",
    "ci_low_s": "CI low",
    "ci_high_s": "CI high",
    "target_s": "target",
    "baseline_s": "baseline",
    "compliance": "compliance",
    "met": "met",
    "flag": "note",
    "percentile": "percentile",
    "zone_id": "zone",
    "period_start": "period",
    "call_category": "call category",
    "call_type": "call type",
    "unit_id": "unit",
    "station_id": "station",
    "first_due_share": "first-due share",
    "reliability": "reliability",
    "volume": "calls",
    "gap_s": "gap to target",
    "travel_s": "travel",
    "turnout_s": "turnout",
    "total_response_s": "total response",
    "call_processing_s": "call processing",
    "alarm_answering_s": "alarm answering",
    "committed_h": "hours committed",
    "uhu": "unit-hour utilisation",
}


#: What each label means (shown as a tooltip or footnote next to the number): a glossary entry
#: per column name of :data:`LABELS`, and the intervals' start and end timestamps.
GLOSSARY: dict[str, str] = {
    "n": "calls counted: those with both timestamps of the interval",
    "n_missing": "calls in scope but not counted: a timestamp of the interval is missing or "
    "out of order",
    "n_excluded": "calls in scope but not counted: a timestamp of the interval is missing or "
    "out of order",
    "n_unmet": "calls whose units on scene never carried the effective response force",
    "p90_s": "90th percentile (nearest rank): 9 in 10 calls took this long or less",
    "p_value_s": "the interval at the profile's percentile (nearest rank)",
    "p_s": "the interval at the profile's percentile (nearest rank)",
    "p50_s": "median: half the calls took this long or less",
    "p95_s": "95th percentile (nearest rank)",
    "mean_s": "average (pulled up by a few long calls: prefer the percentiles)",
    "ci_low_s": "lower bound of the 95% confidence interval of the percentile",
    "ci_high_s": "upper bound of the 95% confidence interval of the percentile",
    "target_s": "the standard's target for this interval",
    "compliance": "share of calls at or under the target; the 90th percentile meets the target "
    "exactly when compliance is at least 90%",
    "volume": "calls in the group, counted or not",
    "gap_s": "how far the percentile is over (+) or under (-) the target",
    "first_due_share": "share of an area's calls whose first unit on scene came from the "
    "area's own station",
    "uhu": "unit-hour utilisation: time committed to calls / time staffed",
    "call_processing_s": "call received (call_received_at) until the first unit is "
    "dispatched (dispatched_at)",
    "turnout_s": "unit dispatched (dispatched_at) until it is en route (enroute_at); "
    "incident level: the first unit on scene",
    "travel_s": "unit en route (enroute_at) until on scene (on_scene_at); incident level: the "
    "first unit on scene",
    "total_response_s": "call received (call_received_at) until the first unit is on scene "
    "(on_scene_at)",
    "alarm_answering_s": "call rings at the PSAP (call_arrived_at) until answered "
    "(call_answered_at)",
}


def definition(column: str) -> str:
    """The glossary entry of a column (empty when it has none)."""
    return GLOSSARY.get(column, "")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))


def duration(seconds: Any, missing: str = MISSING) -> str:
    """Seconds as ``m:ss`` (``h:mm:ss`` from an hour on); rounded to the nearest second.

    >>> duration(726), duration(59.6), duration(3725), duration(None)
    ('12:06', '1:00', '1:02:05', '–')
    """
    if _missing(seconds):
        return missing
    s = float(seconds)
    sign = "-" if s < 0 else ""
    total = int(round(abs(s)))
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{sign}{h}:{m:02d}:{sec:02d}"
    return f"{sign}{m}:{sec:02d}"


def share(fraction: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A fraction as a percentage: ``0.645`` -> ``64.5%``.

    >>> share(0.645), share(1), share(0.9051, 0), share(None)
    ('64.5%', '100.0%', '91%', '–')
    """
    if _missing(fraction):
        return missing
    return f"{float(fraction) * 100:.{digits}f}%"


def count(n: Any, missing: str = MISSING) -> str:
    """A count with thousands separators: ``8509`` -> ``8,509``."""
    if _missing(n):
        return missing
    return f"{int(n):,}"


def number(x: Any, missing: str = MISSING) -> str:
    """A plain number for people: integers with separators, else up to 3 significant digits
    below 1 and one decimal above (``1,234.5``, ``12.3``, ``0.123``)."""
    if _missing(x):
        return missing
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    f = float(x)
    if f.is_integer() and abs(f) < 1e15:
        return f"{int(f):,}"
    if abs(f) >= 1000:
        return f"{f:,.1f}"
    if abs(f) < 1:
        return f"{f:.3g}"
    return f"{f:.1f}"


def is_duration_column(name: str) -> bool:
    """True for columns holding seconds (``*_s``)."""
    return name.endswith("_s")


def is_share_column(name: str) -> bool:
    """True for columns holding a fraction shown as a percentage."""
    return name in ("compliance", "reliability", "uhu", "late_rate", "covered_share") or (
        name.endswith("_share") or name.endswith("_rate")
    )


_COORDINATES = {"latitude", "longitude", "lat", "lon", "lng", "x", "y"}


def value(column: str, v: Any) -> str:
    """Format ``v`` by its column name: durations as m:ss, shares as %, dates as ISO,
    booleans as yes / no, counts with separators."""
    if _missing(v):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, datetime | date):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    if isinstance(v, int | float):
        if column in _COORDINATES:
            return f"{float(v):.5f}"  # about a metre
        if is_duration_column(column):
            return duration(v)
        if is_share_column(column):
            return share(v)
        return number(v)
    return str(v)


def label(column: str, labels: Mapping[str, str] | None = None) -> str:
    """The human label of a column (``p90_s`` -> ``90th pct``); unknown names are shown with
    spaces for underscores and a unit suffix dropped."""
    table = labels if labels is not None else LABELS
    if column in table:
        return table[column]
    text = column[:-2] if column.endswith("_s") else column
    return text.replace("_", " ")


def duration_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], list[str]]:
    """Tick positions (seconds) and their m:ss labels for an axis from ``lo`` to ``hi``: a
    step of 10 s, 15 s, 30 s, 1, 2, 5, 10, 15 or 30 min, 1 or 2 h, at most ``most`` ticks."""
    if _missing(lo) or _missing(hi) or hi <= lo:
        lo, hi = 0.0, max(float(hi or 0), 60.0)
    span = hi - lo
    for step in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= most:
            break
    start = math.floor(lo / step) * step
    vals = [float(start + k * step) for k in range(int((hi - start) // step) + 2)]
    return vals, [duration(v) for v in vals]


def padded(column: str, v: Any) -> str:
    """:func:`value`, left-padded so that text sorting orders numbers >= 0 by size (a table
    that sorts its cells as text: ``" 9:05"`` before ``"12:06"``); HTML does not show the
    padding."""
    text = value(column, v)
    if text == MISSING or not isinstance(v, int | float) or isinstance(v, bool):
        return text
    return text if v < 0 else text.rjust(15)  # negatives (rare: a gap under target) unpadded
