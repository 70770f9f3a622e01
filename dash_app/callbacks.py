"""Callback registration: every callback is a thin wrapper over a plain function.

The plain functions are in ``views.py`` (the frame) and ``pages/<page>.py``; each
``_register_<page>`` wires one page's callbacks, in the order the app has always registered
them.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx

from . import views
from .filters import Filters, parse_search
from .layout import page_layout
from .pages import coverage as coverage_page
from .pages.map import clicked_zone, map_outputs
from .pages.sql import csv_download, run_outputs, saved_query_inputs
from .sql_console import console_limits

__all__ = ["register_callbacks"]


def register_callbacks(app, ds, cfg, targets_fn, geo, saved_queries) -> None:
    """Wire the app. ``geo`` gives cached map geometry; ``targets_fn(profile)`` the targets."""
    _register_frame(app, ds, cfg, saved_queries)
    _register_overview(app, ds, cfg, targets_fn)
    _register_map(app, ds, cfg, targets_fn, geo)
    _register_trends(app, ds, cfg, targets_fn)
    _register_units(app, ds, cfg, targets_fn)
    _register_units_reliability(app, ds, cfg, targets_fn)
    _register_hotspots(app, ds, cfg, targets_fn)
    _register_impact(app, ds, cfg, targets_fn)
    _register_quality(app, ds)
    _register_sql(app, ds, cfg, saved_queries)
    _register_coverage(app, ds, cfg, geo)
    _register_profile_line(app, ds, cfg)


def _scope(search: str | None, cfg, targets_fn, ds=None) -> tuple[Filters, dict]:
    """The URL's filters (with the agency shown and its layer resolved) and the targets of
    the standard they name."""
    f = parse_search(search, cfg.profile)
    if ds is not None:
        f = views.resolve_filters(ds, f)
    return f, targets_fn(f.profile)


def _register_frame(app, ds, cfg, saved_queries) -> None:
    """The URL <-> filter bar sync, the live refresh, and the page router."""

    bar = ("f-agency", "f-dates", "f-dates", "f-cat", "f-type", "f-pri", "f-layer", "f-profile")
    props = ("value", "start_date", "end_date", "value", "value", "value", "value", "value")
    options = (
        ("f-agency", "options"),
        ("f-cat", "options"),
        ("f-type", "options"),
        ("f-pri", "options"),
        ("f-layer", "options"),
        ("f-dates", "min_date_allowed"),
        ("f-dates", "max_date_allowed"),
    )

    @app.callback(
        Output("url", "search"),
        *(Output(c, p) for c, p in zip(bar, props, strict=True)),
        *(Output(c, p) for c, p in options),
        Input("url", "search"),
        Input("data-version", "data"),
        *(Input(c, p) for c, p in zip(bar, props, strict=True)),
    )
    def sync_filters(search, _version, *values):
        return views.sync_bar(ctx.triggered_id, search, values, cfg.profile, ds)

    @app.callback(
        Output("data-version", "data"),
        Input("refresh", "n_intervals"),
        State("data-version", "data"),
    )
    def refresh(n, known):
        return views.refresh_outputs(ds, n, known)

    @app.callback(
        Output("status-line", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def status(search, _v):
        return views.status_text(ds, parse_search(search, cfg.profile))

    @app.callback(
        Output("feed-status", "children"),
        Output("feed-status", "className"),
        Output("feed-status", "style"),
        Input("refresh", "n_intervals"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def feed_status(_n, search, _v):
        f = parse_search(search, cfg.profile)
        return views.feed_status_view(ds, f, cfg.feed_stale_after_s)

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def render_page(path):
        return page_layout(path or "/", saved_queries)


def _register_overview(app, ds, cfg, targets_fn) -> None:
    @app.callback(
        Output("overview-cards", "children"),
        Output("alerts-panel", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def overview(search, _v):
        f, targets = _scope(search, cfg, targets_fn, ds)
        # alerts are the agency's, whatever profile this viewer picked: its configured one
        return views.configured_overview(ds, f, targets, cfg, targets_fn)


def _register_map(app, ds, cfg, targets_fn, geo) -> None:
    @app.callback(
        Output("selected-zone", "data"), Input("map-zones", "clickData"), prevent_initial_call=True
    )
    def select_zone(click):
        return clicked_zone(click)

    @app.callback(
        Output("map-zones", "figure"),
        Output("map-hex", "figure"),
        Output("zone-breakdown", "data"),
        Output("zone-breakdown", "columns"),
        Output("zone-title", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
        Input("map-value", "value"),
        Input("map-metric", "value"),
        Input("hex-value", "value"),
        Input("selected-zone", "data"),
    )
    def map_page(search, _v, value, metric, hex_value, selected):
        return map_outputs(
            ds,
            *_scope(search, cfg, targets_fn, ds),
            geo,
            cfg.tile_url,
            value,
            metric,
            hex_value,
            selected,
        )


def _register_trends(app, ds, cfg, targets_fn) -> None:
    @app.callback(
        Output("trend-p90", "figure"),
        Output("trend-heatmap", "figure"),
        Output("trend-volume", "figure"),
        Input("url", "search"),
        Input("data-version", "data"),
        Input("trend-freq", "value"),
    )
    def trends_page(search, _v, freq):
        return views.trends_view(ds, *_scope(search, cfg, targets_fn, ds), freq)


def _register_units(app, ds, cfg, targets_fn) -> None:
    @app.callback(
        Output("units-turnout", "figure"),
        Output("units-workload", "figure"),
        Output("first-due-table", "data"),
        Output("first-due-table", "columns"),
        Output("first-due-note", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def units_page(search, _v):
        return views.units_view(ds, *_scope(search, cfg, targets_fn, ds))


def _register_units_reliability(app, ds, cfg, targets_fn) -> None:
    from .pages.units import reliability_view

    @app.callback(
        Output("units-uhu", "figure"),
        Output("units-concurrency", "figure"),
        Output("units-cross-area", "figure"),
        Output("units-reliability-note", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def units_reliability(search, _v):
        return reliability_view(ds, _scope(search, cfg, targets_fn, ds)[0])


def _register_hotspots(app, ds, cfg, targets_fn) -> None:
    from .pages.hotspots import hotspots_view

    @app.callback(
        Output("hs-map", "figure"),
        Output("hs-summary", "children"),
        Output("hs-table", "data"),
        Output("hs-table", "columns"),
        Input("url", "search"),
        Input("data-version", "data"),
        Input("hs-metric", "value"),
        Input("hs-interval", "value"),
        Input("hs-by", "value"),
    )
    def hotspots_page(search, _v, metric, interval, by):
        f = _scope(search, cfg, targets_fn, ds)[0]
        return hotspots_view(ds, f, metric, interval, by, cfg.tile_url)


def _register_impact(app, ds, cfg, targets_fn) -> None:
    from .pages.impact import default_periods, impact_view, zone_options

    @app.callback(
        Output("imp-before", "start_date"),
        Output("imp-before", "end_date"),
        Output("imp-after", "start_date"),
        Output("imp-after", "end_date"),
        Output("imp-zone", "options"),
        Input("url", "pathname"),
        Input("url", "search"),
        State("imp-before", "start_date"),
        State("imp-before", "end_date"),
        State("imp-after", "start_date"),
        State("imp-after", "end_date"),
    )
    def impact_defaults(_path, search, *current):
        f = _scope(search, cfg, targets_fn, ds)[0]
        snap = ds.snapshot()
        row = snap.query(
            "select min(local_date) as lo, max(local_date) as hi from inc where agency = $a",
            {"a": f.agency},
        ).row(0)
        inside = all(current) and row[0] and str(row[0]) <= str(current[0])[:10] <= str(row[1])
        dates = current if inside else default_periods(*row)
        return (*dates, zone_options(snap, f.layer, f.agency))

    @app.callback(
        Output("imp-table", "data"),
        Output("imp-table", "columns"),
        Output("imp-detail", "children"),
        Output("imp-warnings", "children"),
        Output("imp-trend", "figure"),
        Input("url", "search"),
        Input("data-version", "data"),
        Input("imp-before", "start_date"),
        Input("imp-before", "end_date"),
        Input("imp-after", "start_date"),
        Input("imp-after", "end_date"),
        Input("imp-zone", "value"),
        Input("imp-metric", "value"),
    )
    def impact_page(search, _v, b0, b1, a0, a1, zone, metric):
        f = _scope(search, cfg, targets_fn, ds)[0]
        return impact_view(ds, f, b0, b1, a0, a1, zone, metric)


def _register_quality(app, ds) -> None:
    @app.callback(
        Output("quality-rejects", "figure"),
        Output("quality-reasons", "data"),
        Output("quality-reasons", "columns"),
        Output("quality-outside", "data"),
        Output("quality-outside", "columns"),
        Input("data-version", "data"),
        Input("url", "pathname"),
        Input("url", "search"),
    )
    def quality_page(_v, _p, search):
        return views.quality_view(ds, views.resolve_filters(ds, parse_search(search)))


def _register_sql(app, ds, cfg, saved_queries) -> None:
    """Saved-query chooser, Run, and Download CSV."""
    by_name = {q["name"]: q for q in saved_queries}

    @app.callback(
        Output("sql-text", "value"),
        Output("sql-params", "children"),
        Input("sql-saved", "value"),
        prevent_initial_call=True,
    )
    def choose_saved(name):
        return saved_query_inputs(by_name, name)

    @app.callback(
        Output("sql-result", "data"),
        Output("sql-result", "columns"),
        Output("sql-error", "children"),
        Output("sql-info", "children"),
        Input("sql-run", "n_clicks"),
        State("sql-text", "value"),
        State("sql-saved", "value"),
        State({"type": "sql-param", "name": ALL}, "value"),
        State({"type": "sql-param", "name": ALL}, "id"),
        prevent_initial_call=True,
    )
    def run_sql(_n, text, saved, values, ids):
        return run_outputs(
            ds,
            by_name,
            text,
            saved,
            values,
            ids,
            cfg.sql_row_limit,
            cfg.sql_timeout_s,
            console_limits(cfg),
        )

    @app.callback(
        Output("sql-download", "data"),
        Input("sql-download-btn", "n_clicks"),
        State("sql-text", "value"),
        prevent_initial_call=True,
    )
    def download(_n, text):
        return csv_download(ds, text, cfg.sql_row_limit, cfg.sql_timeout_s, console_limits(cfg))


def _register_coverage(app, ds, cfg, geo) -> None:
    """Station changes (click a cell, close, reset), the maps and numbers, the download."""

    @app.callback(
        Output("cov-changes", "data"),
        Input("cov-cells", "clickData"),
        Input("cov-close-btn", "n_clicks"),
        Input("cov-reset", "n_clicks"),
        State("cov-changes", "data"),
        State("cov-mode", "value"),
        State("cov-station", "value"),
        prevent_initial_call=True,
    )
    def change_stations(click, _close, _reset, changes, mode, station):
        if ctx.triggered_id == "cov-reset":
            return coverage_page.EMPTY_CHANGES
        if ctx.triggered_id == "cov-close-btn":
            return coverage_page.apply_close(changes, station)
        return coverage_page.apply_click(changes, click, mode, station)

    @app.callback(
        Output("cov-gaps", "figure"),
        Output("cov-cells", "figure"),
        Output("cov-numbers", "children"),
        Output("cov-changes-list", "children"),
        Output("cov-msg", "children"),
        Output("cov-station", "options"),
        Input("url", "search"),
        Input("data-version", "data"),
        Input("cov-target", "value"),
        Input("cov-changes", "data"),
        Input("cov-quantile", "value"),
    )
    def coverage_view(search, _v, target, changes, quantile):
        f = views.resolve_filters(ds, parse_search(search, cfg.profile))
        return coverage_page.coverage_outputs(ds, f, geo, target, changes, quantile)

    @app.callback(
        Output("cov-download", "data"),
        Input("cov-dl-geojson", "n_clicks"),
        Input("cov-dl-csv", "n_clicks"),
        State("url", "search"),
        State("cov-target", "value"),
        State("cov-changes", "data"),
        State("cov-quantile", "value"),
        prevent_initial_call=True,
    )
    def coverage_download(_g, _c, search, target, changes, quantile):
        kind = "csv" if ctx.triggered_id == "cov-dl-csv" else "geojson"
        f = views.resolve_filters(ds, parse_search(search, cfg.profile))
        return coverage_page.download_payload(ds, f, target, changes, kind, quantile)


def _register_profile_line(app, ds, cfg) -> None:
    """The line under the status line: the standards profile applied, and why."""
    from .choices import profile_line

    @app.callback(
        Output("profile-line", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def profile(search, _v):
        return profile_line(
            ds.snapshot(), views.resolve_filters(ds, parse_search(search, cfg.profile))
        )
