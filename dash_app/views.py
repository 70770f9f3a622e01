"""What the dashboard shows, as plain functions (callbacks are thin wrappers over these).

The frame's functions (status line, filter bar <-> URL, live refresh) are here; each page's
view function lives in its module under ``dash_app/pages/`` and is re-exported here.
"""

from __future__ import annotations

from datetime import date

from dash import no_update

from .components import table_props
from .data import DataSource
from .filters import Filters, parse_search, to_search
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
    "refresh_outputs",
]


def status_text(ds: DataSource) -> str:
    """The status line: incident count, newest call, data version."""
    snap = ds.snapshot()
    r = snap.query("select count(*) as n, max(call_received_at) as last from inc").row(
        0, named=True
    )
    last = r["last"].strftime("%Y-%m-%d %H:%M UTC") if r["last"] else "none"
    return f"{r['n']:,} incidents; newest received {last}; data version {snap.version}"


def _control_values(f: Filters) -> tuple:
    """The filter bar's values (dates, category, type, priority, layer, profile) for ``f``."""
    return (
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
    d0, d1, cat, typ, pri, layer, profile = values
    return parse_search("", default_profile).with_(
        date_from=date.fromisoformat(d0[:10]) if d0 else None,
        date_to=date.fromisoformat(d1[:10]) if d1 else None,
        categories=tuple(cat or ()),
        call_types=tuple(typ or ()),
        priorities=tuple(pri or ()),
        layer=layer or None,
        profile=profile or default_profile,
    )


def sync_filters(triggered_id, search: str | None, values: tuple, default_profile: str) -> tuple:
    """Keep the URL's query string and the filter bar in step.

    Parameters
    ----------
    triggered_id : str or None
        What changed: ``"url"`` or None (page load) sets the bar from the URL; anything else
        (a filter control) sets the URL from the bar.
    search : str or None
        The URL's query string.
    values : tuple
        The bar's (start date, end date, categories, call types, priorities, layer, profile).
    default_profile : str
        The standard when the URL names none.

    Returns
    -------
    tuple
        (search, then the seven bar values), ``no_update`` where nothing changes.
    """
    if triggered_id in (None, "url"):
        return (no_update, *_control_values(parse_search(search, default_profile)))
    new = to_search(_filters_of_controls(values, default_profile))
    return (new if new != (search or "") else no_update,) + (no_update,) * 7


def refresh_outputs(ds: DataSource, n_intervals: int | None, known_version) -> tuple:
    """On the refresh timer: (data version, status line, then the filter options and date
    range) when the data changed; otherwise only the status line, and only on page load."""
    v = ds.version()
    if v == known_version:
        # nothing new; on page load the layout already has the options, only the status
        return (no_update, status_text(ds) if not n_intervals else no_update) + (no_update,) * 6
    snap = ds.snapshot()
    ch = filter_choices(snap)
    return (
        snap.version,
        status_text(ds),
        ch["categories"],
        ch["call_types"],
        ch["priorities"],
        ch["layers"],
        ch["date_min"],
        ch["date_max"],
    )
