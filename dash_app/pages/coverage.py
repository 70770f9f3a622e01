"""The coverage page: the performance-gap map (zones by status), the modelled coverage cells,
and a what-if: click a cell to add a station there (or move the chosen one), close a station,
and see the numbers before and after and the cells that changed; download the cells.

Everything is computed by the library (``dispatch_analytics.analysis``: ``Gaps``,
``Coverage``, ``WhatIf``); the page keeps the station changes in a ``dcc.Store`` and builds
figures.
"""

from __future__ import annotations

import json
import math

import plotly.graph_objects as go
import polars as pl
from dash import dcc, html, no_update

from dispatch_analytics import fmt
from dispatch_analytics.errors import DispatchError

from .. import figures
from ..components import CARD, ROW
from ..data import DataSource
from ..filters import Filters

__all__ = [
    "EMPTY_CHANGES",
    "apply_click",
    "apply_close",
    "coverage_outputs",
    "download_payload",
    "gap_figure",
    "cells_figure",
    "layout",
]

EMPTY_CHANGES: dict = {"add": [], "move": {}, "close": []}
STATUS_COLOURS = {
    "meeting": "#2e7d32",
    "at risk": "#f9a825",
    "failing": "#c62828",
    "too few calls": "#9e9e9e",
}
_GRAPH = {"displaylogo": False}
_RESOLUTION = 9


# Long: a declarative tree of the page's controls and outputs; splitting it would scatter one
# screen over several functions without making any part easier to read.
def layout() -> html.Div:
    """The coverage page's structure (filled by callbacks)."""
    controls = html.Div(
        [
            html.Div(
                [
                    html.Label("Travel target (s)"),
                    dcc.Input(
                        id="cov-target",
                        type="number",
                        value=240,
                        min=1,
                        step=1,
                        debounce=True,
                        style={"width": "90px"},
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("Modelled travel"),
                    dcc.RadioItems(
                        id="cov-quantile",
                        value=50,
                        inline=True,
                        options=[
                            {"label": "median", "value": 50},
                            {"label": "90th pct", "value": 90},
                        ],
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("Click a cell to"),
                    dcc.RadioItems(
                        id="cov-mode",
                        value="add",
                        inline=True,
                        options=[
                            {"label": "add a station", "value": "add"},
                            {"label": "move the chosen station", "value": "move"},
                        ],
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("Station"),
                    dcc.Dropdown(
                        id="cov-station",
                        placeholder="choose a station",
                        style={"minWidth": "160px"},
                    ),
                ]
            ),
            html.Button("Close chosen station", id="cov-close-btn", n_clicks=0),
            html.Button("Reset", id="cov-reset", n_clicks=0),
            html.Button("Download cells (GeoJSON)", id="cov-dl-geojson", n_clicks=0),
            html.Button("Download cells (CSV)", id="cov-dl-csv", n_clicks=0),
            dcc.Download(id="cov-download"),
            dcc.Store(id="cov-changes", data=EMPTY_CHANGES),
        ],
        style={**ROW, "gap": "16px", "alignItems": "flex-end", "padding": "6px"},
    )
    return html.Div(
        [
            controls,
            html.Div(id="cov-msg", style={"color": "#b71c1c", "padding": "4px 8px"}),
            html.Div(
                [
                    html.Div(
                        [
                            html.H4("Modelled coverage (click a cell)", style={"margin": "4px"}),
                            dcc.Graph(id="cov-cells", config=dict(_GRAPH)),
                        ],
                        style={**CARD, "flex": "2 1 520px"},
                    ),
                    html.Div(
                        [
                            html.H4("Before / after", style={"margin": "4px"}),
                            html.Div(id="cov-numbers"),
                            html.Div(id="cov-changes-list"),
                        ],
                        style=CARD,
                    ),
                ],
                style=ROW,
            ),
            html.Div(
                [
                    html.H4(
                        "Performance gaps: observed travel p90 by zone", style={"margin": "4px"}
                    ),
                    dcc.Graph(id="cov-gaps", config=dict(_GRAPH)),
                ],
                style=CARD,
            ),
        ]
    )


# ------------------------------------------------------------------------------ state changes
def _copy(changes: dict | None) -> dict:
    c = changes or EMPTY_CHANGES
    return {
        "add": list(c.get("add", [])),
        "move": dict(c.get("move", {})),
        "close": list(c.get("close", [])),
    }


def apply_click(changes: dict | None, click: dict | None, mode: str, station: str | None):
    """The changes after a click on the cells map: add a station at the clicked cell's
    centre, or move the chosen station there (``no_update`` when nothing was hit)."""
    import h3

    if not click or not click.get("points"):
        return no_update
    cell = click["points"][0].get("location")
    if not cell or not h3.is_valid_cell(cell):
        return no_update
    lat, lon = h3.cell_to_latlng(cell)
    out = _copy(changes)
    if mode == "move":
        if not station or station.startswith("new_"):
            return no_update
        out["move"][station] = [lon, lat]
        out["close"] = [s for s in out["close"] if s != station]
    else:
        out["add"].append([lon, lat])
    return out


def apply_close(changes: dict | None, station: str | None):
    """The changes after closing the chosen station (a new one is simply removed)."""
    if not station:
        return no_update
    out = _copy(changes)
    if station.startswith("new_"):
        k = int(station.split("_")[1]) - 1
        if 0 <= k < len(out["add"]):
            out["add"].pop(k)
        return out
    out["move"].pop(station, None)
    if station not in out["close"]:
        out["close"].append(station)
    return out


# ------------------------------------------------------------------------------ computation
def _base(ds: DataSource, layer: str | None):
    """(grid, stations, model, note) for this data version and layer, memoised."""
    from dispatch_analytics.analysis.coverage import CoverageGrid, read_station_frame
    from dispatch_analytics.analysis.travel_model import TravelModel

    def build():
        root = ds.store.root
        note = ""
        try:
            model = TravelModel.load(root)
        except DispatchError:
            model = TravelModel.from_store(ds.store)  # not saved: a view of the history
            note = "travel model fitted for this view (run `dispatch coverage fit` to store it)"
        grid = CoverageGrid.from_store(ds.store, resolution=_RESOLUTION, layer=layer)
        return grid, read_station_frame(root), model, note

    return ds.snapshot().memo(("coverage-base", layer), build)


def _whatif(ds: DataSource, layer, target_s: float, changes: dict, quantile: int = 50):
    from dispatch_analytics.analysis.coverage import Coverage
    from dispatch_analytics.analysis.whatif import WhatIf

    grid, stations, model, note = _base(ds, layer)
    before = Coverage.evaluate(grid, stations, model, target_s, quantile=quantile)
    wi = WhatIf.from_coverage(
        before,
        add=[tuple(p) for p in changes.get("add", [])],
        move={k: tuple(v) for k, v in changes.get("move", {}).items()},
        close=changes.get("close", []),
    )
    return wi, note


def _gap_filters(f: Filters) -> dict:
    """The filter bar as Fractiles filters (the date range's end day included)."""
    import datetime as dt

    out: dict = {}
    if f.categories:
        out["call_category"] = list(f.categories)
    if f.priorities:
        out["priority"] = list(f.priorities)
    if f.date_from:
        out["since"] = f.date_from
    if f.date_to:
        out["until"] = f.date_to + dt.timedelta(days=1)
    return out


def _gaps(ds: DataSource, f: Filters, layer, target_s: float):
    from dispatch_analytics.analysis.gaps import Gaps

    flt = _gap_filters(f)
    return ds.snapshot().memo(
        ("coverage-gaps", layer, target_s, repr(sorted(flt.items()))),
        lambda: Gaps.from_store(
            ds.store, layer=layer, metric="travel", target_s=target_s, filters=flt
        ),
    )


def _target(value) -> float | None:
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) and t > 0 else None


# ------------------------------------------------------------------------------ figures
def gap_figure(gaps, geojson: dict) -> go.Figure:
    """Zones coloured by gap status (meeting / at risk / failing / too few calls)."""
    df = gaps.table
    fig = go.Figure()
    for status, colour in STATUS_COLOURS.items():
        sub = df.filter(pl.col("status") == status)
        if not sub.height:
            continue
        fig.add_trace(
            go.Choroplethmap(
                geojson=geojson,
                featureidkey="properties.zone_id",
                locations=sub["zone_id"].to_list(),
                z=[1] * sub.height,
                colorscale=[[0, colour], [1, colour]],
                showscale=False,
                marker_opacity=0.7,
                marker_line_width=1,
                name=status,
                showlegend=True,
                customdata=list(
                    zip(
                        sub["n"].to_list(),
                        [fmt.duration(v) for v in sub["p_value_s"].to_list()],
                        [fmt.share(v) for v in sub["compliance"].to_list()],
                        strict=True,
                    )
                ),
                hovertemplate="%{location}<br>" + status + "<br>n %{customdata[0]}, p90 "
                "%{customdata[1]}, compliance %{customdata[2]}<extra></extra>",
            )
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.02})
    center, zoom = figures._center_zoom(geojson)
    figures._map_layout(fig, center, zoom - 0.6, None)
    fig.update_layout(height=460)
    return fig


def cells_figure(wi, cells_geojson: dict, target_s: float) -> go.Figure:
    """Cells coloured by modelled travel after the changes (target at the colour midpoint);
    changed cells outlined; stations: existing, new, moved, closed."""
    cells = wi.after.cells
    fig = go.Figure(
        go.Choroplethmap(
            geojson=cells_geojson,
            featureidkey="properties.h3_cell",
            locations=cells["h3_cell"].to_list(),
            z=cells["travel_s"].round(0).to_list(),
            zmin=0,
            zmax=2 * target_s,
            colorscale="RdYlGn",
            reversescale=True,
            marker_opacity=0.6,
            marker_line_width=0.2,
            colorbar={"title": "travel (s)"},
            customdata=cells.select("demand", "station_id").rows(),
            hovertemplate="%{location}<br>travel %{z} s from %{customdata[1]}<br>demand "
            "%{customdata[0]}<extra></extra>",
            name="cells",
        )
    )
    ch = wi.changed_cells
    if ch.height:
        fig.add_trace(
            go.Choroplethmap(
                geojson=cells_geojson,
                featureidkey="properties.h3_cell",
                locations=ch["h3_cell"].to_list(),
                z=[1] * ch.height,
                showscale=False,
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                marker_line_width=1.6,
                marker_line_color="#1565c0",
                hoverinfo="skip",
                name="changed cells",
            )
        )
    st = wi.after.stations
    new = st.filter(pl.col("station_id").str.starts_with("new_"))
    old = st.filter(~pl.col("station_id").str.starts_with("new_"))
    closed = wi.before.stations.filter(pl.col("station_id").is_in(wi.changes.get("close", [])))
    for df, colour, symbol, name in (
        (old, "#1a1a1a", "circle", "stations"),
        (new, "#d81b60", "circle", "new stations"),
        (closed, "#9e9e9e", "circle", "closed stations"),
    ):
        if df.height:
            fig.add_trace(
                go.Scattermap(
                    lat=df["latitude"].to_list(),
                    lon=df["longitude"].to_list(),
                    mode="markers",
                    marker={
                        "size": 10 if name != "stations" else 8,
                        "color": colour,
                        "symbol": symbol,
                    },
                    text=df["station_id"].to_list(),
                    name=name,
                    hovertemplate="station %{text}<extra></extra>",
                )
            )
    center, zoom = figures._center_zoom(cells_geojson)
    figures._map_layout(fig, center, zoom - 0.6, None)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.02})
    return fig


def _cells_geojson(wi) -> dict:
    gdf = wi.after.to_geodataframe()[["h3_cell", "geometry"]]
    return json.loads(gdf.to_json())


def _numbers(wi) -> html.Table:
    rows = [
        ("covered share", "covered_share"),
        ("covered demand", "covered_demand"),
        ("uncovered demand", "uncovered_demand"),
        ("covered area (km²)", "covered_area_km2"),
        ("stations", "n_stations"),
    ]
    b, a = wi.before.summary, wi.after.summary

    def cell(k, v):
        return fmt.share(v) if k == "covered_share" else fmt.number(v)

    body = [html.Tr([html.Th("measure"), html.Th("before"), html.Th("after"), html.Th("change")])]
    for label, k in rows:
        d = wi.delta.get(k)
        change = (
            ""
            if d is None
            else (f"{d * 100:+.1f} pts" if k == "covered_share" else f"{d:+,.1f}".replace(".0", ""))
        )
        body.append(
            html.Tr(
                [
                    html.Td(label),
                    html.Td(cell(k, b[k]), id=f"cov-before-{k}"),
                    html.Td(cell(k, a[k]), id=f"cov-after-{k}"),
                    html.Td(change, id=f"cov-delta-{k}"),
                ]
            )
        )
    body.append(
        html.Tr(
            [
                html.Td("cells changed"),
                html.Td(""),
                html.Td(f"{wi.changed_cells.height:,}", id="cov-changed-cells"),
                html.Td(""),
            ]
        )
    )
    return html.Table(body, style={"fontSize": "14px", "borderSpacing": "10px 2px"})


def _changes_list(changes: dict) -> html.Ul:
    items = [
        html.Li(f"new station {i + 1} at {p[0]:.5f}, {p[1]:.5f}")
        for i, p in enumerate(changes.get("add", []))
    ]
    items += [
        html.Li(f"station {k} moved to {v[0]:.5f}, {v[1]:.5f}")
        for k, v in changes.get("move", {}).items()
    ]
    items += [html.Li(f"station {k} closed") for k in changes.get("close", [])]
    return html.Ul(items or [html.Li("no changes yet: click a cell on the map")])


def coverage_outputs(
    ds: DataSource, f: Filters, geo, target, changes: dict | None, quantile: int = 50
):
    """(gap figure, cells figure, numbers, changes list, message, station options).

    Errors of the analyses (no stations, no units to fit a model, a point outside the
    service area) are shown as the message, with empty figures."""
    empty = figures.empty_figure
    changes = _copy(changes)
    t = _target(target)
    if t is None:
        msg = "The travel target must be a positive number of seconds."
        return empty(msg), empty(msg), "", "", msg, []
    layer = f.layer
    try:
        wi, note = _whatif(ds, layer, t, changes, 90 if quantile == 90 else 50)
    except DispatchError as exc:
        msg = str(exc)
        return empty("see the message above"), empty("see the message above"), "", "", msg, []
    options = [{"label": s, "value": s} for s in wi.after.stations["station_id"].to_list()]
    gap_fig = empty("Choose a zone layer in the filters to see the gap map.")
    if layer:
        gj = geo.layer(layer)
        try:
            gap_fig = gap_figure(_gaps(ds, f, layer, t), gj) if gj else gap_fig
        except DispatchError as exc:
            gap_fig = empty(str(exc))
    return (
        gap_fig,
        cells_figure(wi, _cells_geojson(wi), t),
        _numbers(wi),
        _changes_list(changes),
        note,
        options,
    )


def download_payload(
    ds: DataSource, f: Filters, target, changes: dict | None, kind: str, quantile: int = 50
):
    """The cells after the changes (with before columns and the change) for dcc.Download."""
    t = _target(target)
    if t is None:
        return no_update
    wi, _note = _whatif(ds, f.layer, t, _copy(changes), 90 if quantile == 90 else 50)
    gdf = wi.to_geodataframe()
    if kind == "csv":
        return {
            "content": gdf.drop(columns="geometry").to_csv(index=False),
            "filename": "coverage_cells.csv",
        }
    return {"content": gdf.to_json(), "filename": "coverage_cells.geojson"}
