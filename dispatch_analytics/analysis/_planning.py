"""What the planning analyses (gaps, travel model, coverage, what-if, siting) share: argument checks, the store, the date range, layers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import CoverageError
from ._common import check_agency as _check_agency

__all__ = [
    "check_target",
    "check_agency",
    "scoped_connect",
    "store_root",
    "date_range",
    "local_bounds",
    "pick_layer",
]


def check_target(target_s: Any, arg: str = "target_s") -> float:
    """``target_s`` as a positive float, else :class:`CoverageError` naming the fix."""
    ok = (
        not isinstance(target_s, bool)
        and isinstance(target_s, int | float)
        and math.isfinite(target_s)
        and target_s > 0
    )
    if not ok:
        raise CoverageError(
            f"`{arg}` must be a positive number of seconds, got {target_s!r}; e.g. 240"
        )
    return float(target_s)


def check_agency(agency: Any) -> None:
    """``agency`` must be a name, a list of names, ``"all"`` or None (the connection is then
    scoped with :func:`scoped_connect`, which checks the names against the store): the shape
    check of :func:`._common.check_agency`, raised as a :class:`CoverageError`."""
    problems: list[str] = []
    _check_agency(agency, problems)
    if problems:
        raise CoverageError(problems[0])


def scoped_connect(store: Any, agency: Any = None):
    """A read-only catalog connection of ``store``, scoped to ``agency``'s rows: a name,
    several, ``"all"``, or None for the store's only agency (an unknown agency, or None for a
    store of several, raises :class:`AgencyError` naming them and the fix)."""
    from ..metrics.agency_scope import agency_scope
    from ._common import resolve_agencies

    con = store.connect(read_only=True)
    con.execute("set enable_progress_bar = false")  # DuckDB's own bar would print to stdout
    return agency_scope(con, resolve_agencies(con, agency))


def store_root(store: Any) -> Path:
    """The root folder of a :class:`~dispatch_analytics.store.Store` or a path."""
    return Path(getattr(store, "root", store))


def date_range(con) -> dict[str, str | None]:
    """First and last ``call_received_at`` of the incidents (ISO text, UTC)."""
    row = con.execute(
        "select cast(min(call_received_at) as varchar), cast(max(call_received_at) as varchar), "
        "count(*), cast(min(call_received_local_at)::date as varchar), "
        "cast(max(call_received_local_at)::date as varchar) from incidents"
    ).fetchone()
    return {
        "first_call_received_at": row[0],
        "last_call_received_at": row[1],
        "incidents": int(row[2]),
        "first_local_date": row[3],
        "last_local_date": row[4],
    }


def local_bounds(con, date_from: Any, date_to: Any) -> dict[str, Any]:
    """``since`` / ``until`` filters for local dates (inclusive) in the agency time zone."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from ..analysis.zone_metrics import parse_date

    d0, d1 = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    tzs = [r[0] for r in con.execute("select distinct timezone from incidents").fetchall() if r[0]]
    tz = ZoneInfo(tzs[0] if len(tzs) == 1 else "UTC")
    out: dict[str, Any] = {}
    if d0:
        out["since"] = dt.datetime.combine(d0, dt.time(0), tz)
    if d1:
        out["until"] = dt.datetime.combine(d1 + dt.timedelta(days=1), dt.time(0), tz)
    return out


def pick_layer(root: Path, layer: str | None) -> str:
    """The layer asked for (checked), or the only loaded one."""
    from ..spatial.layers import list_layers, unknown_layer

    loaded = list_layers(root)
    if layer is None:
        if len(loaded) == 1:
            return loaded[0]
        raise CoverageError(
            "`layer` is needed: "
            + (
                f"several layers are loaded ({', '.join(loaded)}); pass --layer NAME"
                if loaded
                else "no zone layer is loaded; load one with `dispatch zones load`"
            )
        )
    if layer not in loaded:
        raise unknown_layer(root, layer)
    return layer
