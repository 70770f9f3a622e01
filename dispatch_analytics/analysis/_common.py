"""What the analyses share: connections, local dates and periods, targets, the agency filter.

Dates are the agency's **local** calendar dates. In the Python API and on the command line a
date range is inclusive at both ends (``start``..``end``); the named SQL queries take
``from_date`` (inclusive) and ``to_date`` (exclusive), so :func:`sql_window` adds one day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from ..errors import AnalysisError
from ..metrics.agency_scope import agency_scope
from ..metrics.queries import known_layers, prepare

__all__ = [
    "connection",
    "parse_date",
    "parse_period",
    "check_window",
    "sql_window",
    "store_timezone",
    "utc_bounds",
    "data_dates",
    "check_agency",
    "resolve_agencies",
    "check_layer",
    "resolve_target",
    "INCIDENT_INTERVALS",
]

#: Incident-level intervals the analyses read from ``incidents.<name>_s``.
INCIDENT_INTERVALS = (
    "alarm_answering",
    "call_processing",
    "turnout",
    "travel",
    "total_response",
)

#: The total-response target used when neither the caller nor the profile sets one: a common
#: 8-minute benchmark (CFAI baselines are set locally; say yours with ``target_s``).
DEFAULT_TOTAL_RESPONSE_TARGET_S = 480.0


#: ``connection(con)`` without an agency: the catalog as it is (for checks before scoping)
_UNSCOPED = object()


def connection(con: Any, agency: Any = _UNSCOPED) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the catalog views (a Store is opened read-only), prepared
    with the macros and zone-view placeholders; with ``agency``, scoped to that agency's rows
    (:func:`~dispatch_analytics.metrics.agency_scope.agency_scope`): a name, several names,
    ``"all"``, or None for the store's only agency (:func:`resolve_agencies`: an unknown
    agency, or None for a store of several, raises :class:`AgencyError`)."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        pass
    elif hasattr(con, "connect"):  # a Store
        con = con.connect(read_only=True)
    else:
        raise AnalysisError(f"expected a DuckDB connection or a Store, got {type(con).__name__}")
    if agency is _UNSCOPED:
        return prepare(con)
    return prepare(agency_scope(con, resolve_agencies(con, agency)))


def parse_date(value: Any, name: str, problems: list[str]) -> dt.date | None:
    """A local date from a ``date`` or ``YYYY-MM-DD`` text; a problem is recorded (not raised)
    when it is not one. None stays None."""
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        problems.append(
            f"`{name}` {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2024-01-31"
        )
        return None


def parse_period(value: Any, name: str, problems: list[str]) -> tuple[dt.date, dt.date] | None:
    """``"2024-01-01..2024-03-31"`` (or a pair of dates) as (start, end), both inclusive."""
    if value is None:
        problems.append(f"`{name}` is required: give it as START..END, e.g. 2024-01-01..2024-03-31")
        return None
    if isinstance(value, str):
        parts = value.split("..")
        if len(parts) != 2:
            problems.append(
                f"`{name}` {value!r} is not a period: write START..END (both local dates, "
                "inclusive), e.g. 2024-01-01..2024-03-31"
            )
            return None
    else:
        parts = list(value)
        if len(parts) != 2:
            problems.append(f"`{name}` must be two dates (start, end), got {value!r}")
            return None
    n = len(problems)
    a, b = parse_date(parts[0], name, problems), parse_date(parts[1], name, problems)
    if len(problems) == n and (a is None or b is None):
        problems.append(f"`{name}` needs both a start and an end date, got {value!r}")
    if len(problems) > n or a is None or b is None:
        return None
    if b < a:
        problems.append(
            f"`{name}` {a}..{b} ends before it starts: give the earlier date first ({b}..{a})"
        )
        return None
    return a, b


def check_window(
    start: Any, end: Any, problems: list[str], names: tuple[str, str] = ("start", "end")
) -> tuple[dt.date | None, dt.date | None]:
    """Parse an optional inclusive window; records a problem when ``end`` is before ``start``."""
    a = parse_date(start, names[0], problems)
    b = parse_date(end, names[1], problems)
    if a is not None and b is not None and b < a:
        problems.append(
            f"`{names[1]}` {b} is before `{names[0]}` {a}: the window is inclusive, so give an "
            f"end on or after the start"
        )
    return a, b


def sql_window(
    con: duckdb.DuckDBPyConnection, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    """``(from_date, to_date)`` for the SQL queries (``to_date`` exclusive): the inclusive
    window, with a missing side taken from the data (first / last local date of a call)."""
    lo, hi = data_dates(con)
    a = start or lo or dt.date.today()
    b = end or hi or a
    return a, b + dt.timedelta(days=1)


def data_dates(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, dt.date | None]:
    """The first and last local date of a call in the store (None, None when empty)."""
    row = con.execute(
        "select cast(min(call_received_local_at) as date), cast(max(call_received_local_at) "
        "as date) from incidents"
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def store_timezone(con: duckdb.DuckDBPyConnection) -> str:
    """The agency time zone of the store's incidents (UTC when empty).

    Raises
    ------
    AnalysisError
        The store holds incidents in several time zones (local dates would be ambiguous).
    """
    zones = [
        r[0]
        for r in con.execute(
            "select distinct timezone from incidents where timezone is not null order by 1"
        ).fetchall()
    ]
    if len(zones) > 1:
        raise AnalysisError(
            f"the store holds incidents in several time zones ({', '.join(zones)}); local "
            "dates are ambiguous: analyse one agency's store at a time"
        )
    return zones[0] if zones else "UTC"


def utc_bounds(start: dt.date, end: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of local midnight at ``start`` and of the midnight after ``end`` (DST-exact:
    a local day is 23 or 25 hours on the change nights)."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise AnalysisError(f"unknown time zone {tz!r} in the store") from None
    a = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    b = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return a, b


def check_agency(agency: Any, problems: list[str], con: Any = None) -> None:
    """``agency`` must be None, ``"all"``, or the name (or a list of names) of agencies in the
    store (checked on ``con`` when given); a problem is recorded, not raised."""
    from ..errors import AgencyError
    from ..metrics.agencies import resolve_agency

    ok = (
        agency is None
        or isinstance(agency, str)
        or (isinstance(agency, list | tuple) and all(isinstance(a, str) for a in agency))
    )
    if not ok:
        problems.append(f"`agency` {agency!r} must be an agency's name, a list of names or 'all'")
        return
    if agency is not None and con is not None:
        try:
            resolve_agency(con, agency)
        except AgencyError as exc:
            problems.append(str(exc))


def resolve_agencies(con: Any, agency: Any) -> list[str] | None:
    """The agencies a Python call works on: a list of names, or None for every agency (only
    when asked with ``"all"``, or when the store holds one agency or none).

    Raises
    ------
    AgencyError
        An unknown agency, or None for a store of several (the message lists them and says
        ``agency="NAME"`` or ``agency="all"``): never a silent sum of agencies.
    """
    from ..metrics.agencies import resolve_agency

    if not isinstance(con, duckdb.DuckDBPyConnection) and hasattr(con, "connect"):
        own = con.connect(read_only=True)
        try:
            return resolve_agencies(own, agency)
        finally:
            own.close()
    chosen = resolve_agency(con, agency, python=True)
    if chosen is None:
        return None
    return [chosen] if isinstance(chosen, str) else list(chosen)


def check_layer(
    con: duckdb.DuckDBPyConnection, layer: str | None, name: str, problems: list[str]
) -> None:
    """Records a problem when ``layer`` is given and not loaded (lists the loaded ones)."""
    if layer is None:
        return
    layers = known_layers(con)
    if layer not in layers:
        problems.append(
            f"`{name}` {layer!r} is not a loaded zone layer; loaded layers: "
            f"{', '.join(layers) or '(none: load one with `dispatch zones load`)'}"
        )


def resolve_target(
    metric: str,
    target_s: float | None,
    profile: str | None,
    call_category: str | None,
    problems: list[str],
) -> float | None:
    """The target (seconds) of an incident interval: ``target_s`` when given; else the
    standards profile's incident-level target for ``metric`` (the one for ``call_category``
    when the profile sets one per category); else, for total_response, 480 s. Records a
    problem when the profile sets several and no category picks one."""
    if target_s is not None:
        if isinstance(target_s, bool) or not isinstance(target_s, int | float) or target_s <= 0:
            problems.append(f"`target_s` must be a positive number of seconds, got {target_s!r}")
            return None
        return float(target_s)
    found: list[tuple[tuple[str, ...] | None, float]] = []
    if profile is not None:
        from ..metrics.standards import StandardError, load_standard

        try:
            std = load_standard(profile)
        except StandardError as exc:
            problems.append(str(exc))
            return None
        for t in std.entries(metric, "incident"):
            if t.target_s is None or t.unit_type or t.by_density_class:
                continue
            found.append((t.call_category, float(t.target_s)))
    if call_category is not None:
        for cats, sec in found:
            if cats is None or call_category in cats:
                return sec
    if len({sec for _c, sec in found}) == 1:
        return found[0][1]
    if len(found) > 1:
        by = ", ".join(f"{'/'.join(c) if c else 'all'} {s:g} s" for c, s in found)
        problems.append(
            f"profile {profile} sets {metric} targets per call category ({by}): pass "
            "`call_category` to pick one, or `target_s`"
        )
        return None
    if metric == "total_response":
        return DEFAULT_TOTAL_RESPONSE_TARGET_S
    return None
