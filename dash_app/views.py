"""What the dashboard shows, as plain functions (callbacks are thin wrappers over these).

The frame's functions (status line, filter bar <-> URL, live refresh) are here; each page's
view function lives in its module under ``dash_app/pages/`` and is re-exported here.
"""

from __future__ import annotations

from datetime import date

from dash import no_update

from .components import table_props
from .data import DataSource
from .filters import Filters, agency_switched, parse_search, to_search, where_sql
from .pages.map import map_view
from .pages.overview import overview_view
from .pages.quality import quality_view
from .pages.sql import sql_view
from .pages.trends import trends_view
from .pages.units import units_view
from .stats import filter_choices

__all__ = [
    "overview_view",
    "map_view",
    "trends_view",
    "units_view",
    "quality_view",
    "sql_view",
    "table_props",
    "status_text",
    "sync_filters",
    "resolve_filters",
    "refresh_outputs",
    "filter_options",
    "sync_bar",
]


def status_text(ds: DataSource, f: Filters | None = None) -> str:
    """The status line: the agency, the calls the filters select (of its total) and its
    newest call in its own time zone. No internal ids or versions."""
    from dispatch_analytics import fmt

    snap = ds.snapshot()
    f = f or Filters()
    agency = snap.agency(f.agency)
    f = f.with_(agency=agency)
    where, params = where_sql(f)
    n = snap.query(f"select count(*) as n from inc where {where}", params)["n"][0]
    r = snap.query(
        "select count(*) as n, max(received_local) as last from inc where "
        + ("agency = $a" if agency else "true"),
        {"a": agency} if agency else {},
    ).row(0, named=True)
    last = r["last"].strftime("%Y-%m-%d %H:%M") if r["last"] else "none"
    tz = snap.timezone(agency) or "local time"
    who = agency or "no agency"
    of = f" of {fmt.count(r['n'])}" if n != r["n"] else ""
    return f"{who}: {fmt.count(n)}{of} calls selected; newest call received {last} ({tz})"


def _control_values(f: Filters) -> tuple:
    """The filter bar's values (agency, dates, category, type, priority, layer, profile)."""
    return (
        f.agency,
        f.date_from and f.date_from.isoformat(),
        f.date_to and f.date_to.isoformat(),
        list(f.categories),
        list(f.call_types),
        list(f.priorities),
        f.layer,
        f.profile,
    )


def _filters_of_controls(values: tuple, default_profile: str) -> Filters:
    """The filters the filter bar's ``values`` (as in :func:`_control_values`) describe."""
    agency, d0, d1, cat, typ, pri, layer, profile = values
    return parse_search("", default_profile).with_(
        agency=agency or None,
        date_from=date.fromisoformat(d0[:10]) if d0 else None,
        date_to=date.fromisoformat(d1[:10]) if d1 else None,
        categories=tuple(cat or ()),
        call_types=tuple(typ or ()),
        priorities=tuple(pri or ()),
        layer=layer or None,
        profile=profile or default_profile,
    )


def resolve_filters(ds: DataSource, f: Filters) -> Filters:
    """``f`` with the agency the dashboard shows (the URL's, else the one with the newest
    data) and a zone layer of that agency preselected when none is chosen."""
    snap = ds.snapshot()
    agency = snap.agency(f.agency)
    layers = snap.layers_of(agency)
    layer = f.layer if f.layer in layers else snap.default_layer(agency)
    return f.with_(agency=agency, layer=layer)


def sync_filters(
    triggered_id, search: str | None, values: tuple, default_profile: str, ds=None
) -> tuple:
    """Keep the URL's query string and the filter bar in step.

    Parameters
    ----------
    triggered_id : str or None
        What changed: ``"url"`` or None (page load) sets the bar from the URL; ``"f-agency"``
        switches agency (its call types, priorities, dates and layers differ: those filters
        are reset and one of its layers chosen); any other control sets the URL from the bar.
    search : str or None
        The URL's query string.
    values : tuple
        The bar's (agency, start date, end date, categories, call types, priorities, layer,
        profile).
    default_profile : str
        The standard when the URL names none.
    ds : DataSource, optional
        Resolves the default agency and layer (without it, the URL's values are kept).

    Returns
    -------
    tuple
        (search, then the eight bar values), ``no_update`` where nothing changes.
    """
    if triggered_id in (None, "url"):
        f = parse_search(search, default_profile)
        if ds is not None:
            f = resolve_filters(ds, f)
        return (no_update, *_control_values(f))
    f = _filters_of_controls(values, default_profile)
    if triggered_id == "f-agency":
        f = agency_switched(f, search, default_profile)  # a chosen profile stays
        if ds is not None:
            f = resolve_filters(ds, f)
        new = to_search(f)
        return (new if new != (search or "") else no_update, *_control_values(f))
    new = to_search(f)
    return (new if new != (search or "") else no_update,) + (no_update,) * 8


def sync_bar(
    triggered_id, search: str | None, values: tuple, default_profile: str, ds: DataSource
) -> tuple:
    """:func:`sync_filters`, then the bar's option lists (:func:`filter_options`) whenever
    the agency may have changed (page load, the URL, the agency selector, new data): values
    and their options arrive together, so a value is never dropped for lack of its option."""
    out = sync_filters(
        None if triggered_id == "data-version" else triggered_id,
        search,
        values,
        default_profile,
        ds,
    )
    if triggered_id == "data-version":
        out = (no_update,) * len(out)
    if triggered_id in (None, "url", "f-agency", "data-version"):
        new_search = out[0] if isinstance(out[0], str) else search
        return (*out, *filter_options(ds, new_search, default_profile))
    return (*out, *(no_update,) * 7)


def refresh_outputs(ds: DataSource, n_intervals: int | None, known_version):
    """On the refresh timer: the new data version when the store changed (every view
    listens to it), else ``no_update``."""
    v = ds.version()
    return no_update if v == known_version else ds.snapshot().version


def filter_options(ds: DataSource, search: str | None, default_profile: str) -> tuple:
    """The filter bar's option lists for the URL's agency: (agencies, categories, call
    types, priorities, layers, first date, last date)."""
    f = resolve_filters(ds, parse_search(search, default_profile))
    ch = filter_choices(ds.snapshot(), f.agency)
    return (
        ch["agencies"],
        ch["categories"],
        ch["call_types"],
        ch["priorities"],
        ch["layers"],
        ch["date_min"],
        ch["date_max"],
    )
