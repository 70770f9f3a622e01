"""Groupings (``by=``) and filters (``filters=``) of the metric SQL, validated against the
known layers, periods and dimensions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MetricError
from .rules import PERIODS

__all__ = ["LOCAL", "DIM_SQL", "DIMENSIONS", "FILTER_KEYS", "Group", "parse_by", "filter_sql"]

LOCAL = "b.call_received_local_at"  # stored at ingest: no per-row zone lookup
#: SQL of each dimension over the base rows ``b``
DIM_SQL = {
    "agency": "b.agency",
    "hour": f"hour({LOCAL})",
    "weekday": f"isodow({LOCAL})",
    "call_category": "b.call_category",
    "call_type": "b.call_type",
    "priority": "b.priority",
    "unit": "b.unit",
    "unit_type": "b.unit_type",
    "station": "b.station",
}
#: grouping dimensions besides ``layer:<name>`` and the periods
DIMENSIONS = tuple(DIM_SQL)
#: the dimensions a filter may name (categories first, as in error messages), and the time span
FILTER_KEYS = (*(d for d in DIMENSIONS if d not in ("hour", "weekday")), "hour", "weekday")
FILTER_KEYS += ("since", "until")


@dataclass
class Group:
    """One grouping: a zone layer, a period or a dimension, and its output column."""

    kind: str  # layer | period | dim
    value: str
    column: str
    expr: str = ""


def _valid(layers: list[str]) -> str:
    return (
        "layer:<name> (layers: "
        + (", ".join(layers) or "none loaded")
        + "), "
        + ", ".join(PERIODS)
        + ", "
        + ", ".join(DIMENSIONS)
    )


def parse_by(by: Sequence[str] | str, layers: list[str]) -> list[Group]:
    """The groups of ``by``; :class:`MetricError` names the valid ones."""
    if isinstance(by, str):
        by = (by,)
    out: list[Group] = []
    n_layers = sum(1 for b in by if isinstance(b, str) and b.startswith("layer:"))
    for item in by:
        if not isinstance(item, str):
            raise MetricError(f"grouping must be text, got {item!r}; valid: {_valid(layers)}")
        s = item.strip()
        if s.startswith("layer:"):
            layer = s[len("layer:") :]
            if layer not in layers:
                raise MetricError(
                    f"unknown layer {layer!r}; valid layers: {', '.join(layers) or '(none loaded)'}"
                )
            col = "zone_id" if n_layers == 1 else f"zone_id_{layer}"
            out.append(Group("layer", layer, col))
        elif s.removeprefix("period:") in PERIODS:
            if any(g.kind == "period" for g in out):
                raise MetricError(f"only one period allowed in by, got {list(by)}")
            p = s.removeprefix("period:")
            out.append(
                Group("period", p, "period_start", f"cast(date_trunc('{p}', {LOCAL}) as date)")
            )
        elif s in DIMENSIONS:
            out.append(Group("dim", s, s, DIM_SQL[s]))
        else:
            raise MetricError(f"unknown grouping {item!r}; valid: {_valid(layers)}")
    cols = [g.column for g in out]
    if len(set(cols)) != len(cols):
        raise MetricError(f"duplicate grouping in {list(by)}")
    return out


def filter_sql(filters: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """SQL conditions over the base rows ``b`` for ``filters`` (their values go to ``params``)."""
    out = []
    for k, v in filters.items():
        if k not in FILTER_KEYS:
            raise MetricError(f"unknown filter {k!r}; valid filters: {', '.join(FILTER_KEYS)}")
        if k in ("since", "until"):
            if isinstance(v, dt.datetime) and v.tzinfo is None:
                v = v.replace(tzinfo=dt.UTC)
            params[f"f_{k}"] = v.isoformat() if isinstance(v, dt.date) else str(v)
            op = ">=" if k == "since" else "<"
            out.append(f"b.call_received_at {op} cast($f_{k} as timestamptz)")
            continue
        vals = list(v) if isinstance(v, list | tuple | set) else [v]
        if k in ("hour", "weekday"):
            try:
                vals = [int(x) for x in vals]
            except (TypeError, ValueError):
                raise MetricError(f"filter {k} takes whole numbers, got {v!r}") from None
        else:
            vals = [str(x) for x in vals]
        params[f"f_{k}"] = vals
        out.append(f"list_contains($f_{k}, {DIM_SQL[k]})")
    return out
