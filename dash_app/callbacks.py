"""Callback registration: every callback is a thin wrapper over a function in views.py."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from . import views
from .filters import parse_search, to_search
from .layout import page_layout

__all__ = ["register_callbacks"]


def register_callbacks(app, ds, cfg, targets_fn, geo, saved_queries) -> None:
    """Wire the app. ``geo`` gives cached map geometry; ``targets_fn(profile)`` the targets."""

    def filters_of(search):
        return parse_search(search, cfg.profile)

    @app.callback(
        Output("url", "search"),
        Output("f-dates", "start_date"),
        Output("f-dates", "end_date"),
        Output("f-cat", "value"),
        Output("f-type", "value"),
        Output("f-pri", "value"),
        Output("f-layer", "value"),
        Output("f-profile", "value"),
        Input("url", "search"),
        Input("f-dates", "start_date"),
        Input("f-dates", "end_date"),
        Input("f-cat", "value"),
        Input("f-type", "value"),
        Input("f-pri", "value"),
        Input("f-layer", "value"),
        Input("f-profile", "value"),
    )
    def sync_filters(search, d0, d1, cat, typ, pri, layer, profile):
        if ctx.triggered_id in (None, "url"):
            f = filters_of(search)
            return (
                no_update,
                f.date_from and f.date_from.isoformat(),
                f.date_to and f.date_to.isoformat(),
                list(f.categories),
                list(f.call_types),
                list(f.priorities),
                f.layer,
                f.profile,
            )
        from datetime import date

        f = parse_search("", cfg.profile).with_(
            date_from=date.fromisoformat(d0[:10]) if d0 else None,
            date_to=date.fromisoformat(d1[:10]) if d1 else None,
            categories=tuple(cat or ()),
            call_types=tuple(typ or ()),
            priorities=tuple(pri or ()),
            layer=layer or None,
            profile=profile or cfg.profile,
        )
        new = to_search(f)
        return (new if new != (search or "") else no_update,) + (no_update,) * 7

    @app.callback(
        Output("data-version", "data"),
        Output("status-line", "children"),
        Output("f-cat", "options"),
        Output("f-type", "options"),
        Output("f-pri", "options"),
        Output("f-layer", "options"),
        Output("f-dates", "min_date_allowed"),
        Output("f-dates", "max_date_allowed"),
        Input("refresh", "n_intervals"),
        State("data-version", "data"),
    )
    def refresh(n, known):
        v = ds.version()
        if v == known:
            # nothing new; on page load the layout already has the options, only the status
            return (no_update, views.status_text(ds) if not n else no_update) + (no_update,) * 6
        snap = ds.snapshot()
        from .stats import filter_choices

        ch = filter_choices(snap)
        return (
            snap.version,
            views.status_text(ds),
            ch["categories"],
            ch["call_types"],
            ch["priorities"],
            ch["layers"],
            ch["date_min"],
            ch["date_max"],
        )

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def render_page(path):
        return page_layout(path or "/", saved_queries)

    @app.callback(
        Output("overview-cards", "children"),
        Output("alerts-panel", "children"),
        Input("url", "search"),
        Input("data-version", "data"),
    )
    def overview(search, _v):
        f = filters_of(search)
        return views.overview_view(
            ds, f, targets_fn(f.profile), cfg.alerts_log, cfg.alert_window_days, cfg.alert_min_n
        )

    @app.callback(
        Output("selected-zone", "data"), Input("map-zones", "clickData"), prevent_initial_call=True
    )
    def select_zone(click):
        if click and click.get("points"):
            return click["points"][0].get("location")
        return no_update

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
        f = filters_of(search)
        gj = geo.layer(f.layer) if f.layer else None
        if selected and gj is not None and selected not in geo.zone_ids(f.layer):
            selected = None
        return views.map_view(
            ds,
            f,
            targets_fn(f.profile),
            value,
            metric,
            hex_value,
            selected,
            gj,
            geo.stations(),
            geo.cells(),
            cfg.tile_url,
        )

    @app.callback(
        Output("trend-p90", "figure"),
        Output("trend-heatmap", "figure"),
        Output("trend-volume", "figure"),
        Input("url", "search"),
        Input("data-version", "data"),
        Input("trend-freq", "value"),
    )
    def trends_page(search, _v, freq):
        f = filters_of(search)
        return views.trends_view(ds, f, targets_fn(f.profile), freq)

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
        f = filters_of(search)
        return views.units_view(ds, f, targets_fn(f.profile))

    @app.callback(
        Output("quality-rejects", "figure"),
        Output("quality-reasons", "data"),
        Output("quality-reasons", "columns"),
        Output("quality-outside", "data"),
        Output("quality-outside", "columns"),
        Input("data-version", "data"),
        Input("url", "pathname"),
    )
    def quality_page(_v, _p):
        return views.quality_view(ds)

    by_name = {q["name"]: q for q in saved_queries}

    @app.callback(
        Output("sql-text", "value"),
        Output("sql-params", "children"),
        Input("sql-saved", "value"),
        prevent_initial_call=True,
    )
    def choose_saved(name):
        if not name or name not in by_name:
            return no_update, []
        q = by_name[name]
        inputs = [
            html.Div(
                [
                    html.Label(f"${p['name']}: {p['doc']}"),
                    dcc.Input(
                        id={"type": "sql-param", "name": p["name"]},
                        value=p.get("default"),
                        debounce=True,
                        style={"width": "100%"},
                    ),
                ]
            )
            for p in q["params"]
        ]
        return q["sql"], inputs

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
        params = None
        if saved and saved in by_name and ids:
            params = {i["name"]: _coerce(v) for i, v in zip(ids, values, strict=True)}
            used = {p["name"] for p in by_name[saved]["params"]}
            params = {k: v for k, v in params.items() if k in used and f"${k}" in (text or "")}
        data, cols, error, info, _csv = views.sql_view(
            ds, text, params, cfg.sql_row_limit, cfg.sql_timeout_s
        )
        return data, cols, error, info

    @app.callback(
        Output("sql-download", "data"),
        Input("sql-download-btn", "n_clicks"),
        State("sql-text", "value"),
        prevent_initial_call=True,
    )
    def download(_n, text):
        *_rest, csv = views.sql_view(ds, text, None, cfg.sql_row_limit, cfg.sql_timeout_s)
        if csv is None:
            return no_update
        return dcc.send_string(csv, "query_result.csv")


def _coerce(v):
    if v in (None, ""):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v
