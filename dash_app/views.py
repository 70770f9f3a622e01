"""What the dashboard shows, as plain functions (callbacks are thin wrappers over these).

The frame's functions (status line, filter bar <-> URL, live refresh) are here; each page's
view function lives in its module under ``dash_app/pages/`` and is re-exported here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

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
from .results_cache import shared
from .stats import filter_choices

__all__ = [
    "overview_view",
    "configured_overview",
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
    "feed_status_view",
    "ago",
    "default_searches",
    "warm_defaults",
]


def status_text(ds: DataSource, f: Filters | None = None) -> str:
    """The status line: the agency, the calls the filters select (of its total) and its
    newest call in its own time zone. No internal ids or versions."""
    from dispatch_analytics import fmt

    snap = ds.snapshot()
    f = f or Filters()
    agency = snap.agency(f.agency)
    f = f.with_(agency=agency)
    n, r = _status_counts(snap, f)
    last = r["last"].strftime("%Y-%m-%d %H:%M") if r["last"] else "none"
    tz = snap.timezone(agency) or "local time"
    who = agency or "no agency"
    of = f" of {fmt.count(r['n'])}" if n != r["n"] else ""
    return f"{who}: {fmt.count(n)}{of} calls selected; newest call received {last} ({tz})"


@shared("status_counts")
def _status_counts(snap, f: Filters) -> tuple[int, dict]:
    """The calls ``f`` selects, and the agency's calls and newest call (one result per
    data version and filters, for every worker)."""
    where, params = where_sql(f)
    n = snap.query(f"select count(*) as n from inc where {where}", params)["n"][0]
    r = snap.query(
        "select count(*) as n, max(received_local) as last from inc where "
        + ("agency = $a" if f.agency else "true"),
        {"a": f.agency} if f.agency else {},
    ).row(0, named=True)
    return int(n), r


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


_BOX = {"padding": "2px 14px", "fontSize": "13px"}
_OK = {**_BOX, "color": "#555"}
_STALE = {**_BOX, "color": "#fff", "background": "#c62828", "fontWeight": "600"}


def ago(seconds: float | None) -> str:
    """An age in words: ``just now``, ``3 min ago``, ``2 h 05 min ago``, ``4 days ago``."""
    if seconds is None:
        return "never"
    s = max(0.0, float(seconds))
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min ago"
    days = int(s // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def feed_status_view(
    ds: DataSource, f: Filters | None, stale_after_s: float, now: datetime | None = None
) -> tuple[str, str, dict]:
    """The feed status beside the status line: the agency's last successful ingest in its
    time zone and how long ago, with a warning when the feed is stale.

    The library's :func:`dispatch_analytics.feeds.feed_status` (the rule of
    ``dispatch feed-status --check``) runs once per data version and agency (memoised on the
    snapshot, so a request costs nothing); between versions only the age moves on: the
    time since the same last ingest, against the same threshold.

    Parameters
    ----------
    ds : DataSource
    f : Filters or None
        Their agency (default: the one the dashboard shows).
    stale_after_s : float
        The threshold (``[dashboard] feed_stale_after_s``).
    now : datetime, optional
        Timezone-aware; default: now.

    Returns
    -------
    (str, str, dict)
        The text, the element's class (``feed-ok`` or ``feed-stale``) and its style.
    """
    from zoneinfo import ZoneInfo

    from dispatch_analytics import fmt
    from dispatch_analytics.feeds import feed_status

    snap = ds.snapshot()
    agency = snap.agency((f or Filters()).agency)

    key = ("feed_status", agency, float(stale_after_s))
    st = snap.memo(key, lambda: feed_status(ds.store, stale_after_s, agency=agency))
    last = st["last_ingest_at"]
    if last is None:
        return "Feed stale: no successful ingest yet", "feed-stale", _STALE
    age = ((now or datetime.now(UTC)) - last).total_seconds()
    tz = snap.timezone(agency)
    local = last.astimezone(ZoneInfo(tz)) if tz else last
    when = f"{local:%Y-%m-%d %H:%M} ({tz or 'UTC'})"
    text = f"Last ingest {when}, {ago(age)}"
    if st["stale"] or age > st["stale_after_s"]:
        limit = fmt.duration(st["stale_after_s"])
        return f"Feed stale: {text}; nothing new for longer than {limit}", "feed-stale", _STALE
    return text, "feed-ok", _OK


def default_searches(ds: DataSource, default_profile: str) -> list[str]:
    """The query strings of the view a new viewer opens: the bare URL, and the one the filter
    bar rewrites it to (its agency's layer chosen)."""
    f = resolve_filters(ds, parse_search("", default_profile))
    return list(dict.fromkeys(["", to_search(f)]))


def configured_overview(ds: DataSource, f, targets, cfg, targets_fn):
    """:func:`overview_view` with the dashboard config's alert settings (log, window, minimum
    n); the alerts are judged by the agency's configured profile (``targets_fn(profile)``),
    whatever profile this viewer picked."""
    return overview_view(
        ds,
        f,
        targets,
        cfg.alerts_log,
        cfg.alert_window_days,
        cfg.alert_min_n,
        alert_targets=targets_fn(cfg.profile_for(f.agency)),
    )


def warm_defaults(ds: DataSource, cfg, targets_fn, geo=None) -> list[str]:
    """Compute every page's default view (the status line, the filter bar, overview with
    its alerts, trends by month, units, map, quality) so their results are in the shared
    results cache before the first viewer asks (:mod:`dash_app.results_cache`).

    Parameters
    ----------
    ds : DataSource
    cfg : DashConfig
        The dashboard's settings (default profile, alert window, tile URL).
    targets_fn : callable
        ``targets_fn(profile)``: the targets of a standards profile.
    geo : GeoCache, optional
        Map geometry; without it the map page is not warmed.

    Returns
    -------
    list of str
        The pages warmed, in order.
    """
    from .pages.map import map_outputs

    done = []
    for search in default_searches(ds, cfg.profile):
        raw = parse_search(search, cfg.profile)
        status_text(ds, raw)
        filter_options(ds, search, cfg.profile)
        f = resolve_filters(ds, raw)
        targets = targets_fn(f.profile)
        configured_overview(ds, f, targets, cfg, targets_fn)
        trends_view(ds, f, targets, "month")
        units_view(ds, f, targets)
        pages = ["status", "filters", "overview", "trends", "units"]
        if geo is not None and f.layer:
            map_outputs(ds, f, targets, geo, cfg.tile_url, "p", "total_response", "volume", None)
            pages.append("map")
        quality_view(ds, f)
        done += [f"{p} {search or '(no filters)'}" for p in [*pages, "quality"]]
    return done
