"""The hotspots page: Getis-Ord Gi* classes of H3 cells (volume or late rate) on an offline
map, or emerging hot-spot patterns by period. Every number comes from
``dispatch_analytics.analysis`` (``Hotspots`` / ``EmergingHotspots``) on the snapshot."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from dash import dcc, html

from dispatch_analytics.analysis.emerging import PATTERNS, EmergingHotspots
from dispatch_analytics.analysis.hotspots import Hotspots, cells_geodataframe
from dispatch_analytics.errors import DispatchError

from .. import figures
from ..components import CARD, ROW, data_table, people_table
from ..data import INTERVALS, DataSource
from ..filters import Filters

__all__ = ["layout", "hotspots_view", "hotspot_figure", "CLASS_COLOURS"]

CLASS_COLOURS = {
    "hot": "#c0392b",
    "cold": "#2e86c1",
    "not significant": "#d5d8dc",
    "too few": "#f4f6f6",
    "new": "#e74c3c",
    "intensifying": "#922b21",
    "persistent": "#cb4335",
    "diminishing": "#f5b041",
    "sporadic": "#f1948a",
    "historical": "#a569bd",
    "no pattern": "#e5e8e8",
}


def layout() -> html.Div:
    """The page's controls, map, summary and table (filled by a callback)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Label("Measure"),
                    dcc.RadioItems(
                        id="hs-metric",
                        value="volume",
                        inline=True,
                        options=[
                            {"label": "call volume", "value": "volume"},
                            {"label": "late-response rate", "value": "late_rate"},
                        ],
                    ),
                    html.Label("Interval (late rate)", style={"marginLeft": "18px"}),
                    dcc.Dropdown(
                        id="hs-interval",
                        value="travel",
                        clearable=False,
                        options=[{"label": v[0], "value": k} for k, v in INTERVALS.items()],
                        style={"width": "260px", "display": "inline-block"},
                    ),
                    html.Label("Emerging, by", style={"marginLeft": "18px"}),
                    dcc.RadioItems(
                        id="hs-by",
                        value="none",
                        inline=True,
                        options=["none", "day", "week", "month"],
                    ),
                ],
                style={"padding": "6px", "display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(
                [
                    html.Div(dcc.Graph(id="hs-map"), style={**CARD, "flex": "2 1 520px"}),
                    html.Div(
                        [html.Div(id="hs-summary"), data_table("hs-table", page_size=12)],
                        style=CARD,
                    ),
                ],
                style=ROW,
            ),
        ]
    )


def hotspot_figure(table: pl.DataFrame, column: str, tile_url: str | None = None) -> go.Figure:
    """H3 cells coloured by their class (``column``: ``class`` or ``pattern``), one legend
    entry per class; a plain background (no tiles) unless ``tile_url``."""
    if table.is_empty():
        return figures.empty_figure("no located incidents for these filters")
    gj = figures.geojson_of(cells_geodataframe(table.select("h3_cell", column)))
    fig = go.Figure()
    order = [c for c in CLASS_COLOURS if c in set(table[column].to_list())]
    for cls in order:
        part = table.filter(pl.col(column) == cls)
        colour = CLASS_COLOURS[cls]
        fig.add_trace(
            go.Choroplethmap(
                geojson=gj,
                featureidkey="properties.h3_cell",
                locations=part["h3_cell"].to_list(),
                z=[1] * part.height,
                colorscale=[[0, colour], [1, colour]],
                showscale=False,
                marker_opacity=0.75,
                marker_line_width=0.3,
                name=f"{cls} ({part.height})",
                showlegend=True,
                hovertext=part["h3_cell"].to_list(),
            )
        )
    center, zoom = figures._center_zoom(gj)
    figures._map_layout(fig, center, zoom, tile_url)
    fig.update_layout(legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"})
    return fig


def _compute(snap, f: Filters, metric: str, interval: str, by: str):
    cat = f.categories[0] if len(f.categories) == 1 else None
    layer = f.layer if f.layer in snap.layers else None
    kw = dict(
        start=f.date_from, end=f.date_to, call_category=cat, study_area=layer, agency=f.agency
    )
    cur = snap.con.cursor()
    try:
        if by != "none":
            return EmergingHotspots.from_store(cur, by=by, **kw)
        return Hotspots.from_store(cur, metric=metric, interval=interval, profile=f.profile, **kw)
    finally:
        cur.close()


def hotspots_view(
    ds: DataSource, f: Filters, metric: str, interval: str, by: str, tile_url: str | None = None
):
    """(map figure, summary, table data, table columns) for the page's controls."""
    snap = ds.snapshot()
    key = ("hotspots", f, metric, interval, by)
    try:
        res = snap.memo(key, lambda: _compute(snap, f, metric, interval, by))
    except DispatchError as exc:
        msg = str(exc)
        if "`study_area`" in msg:
            msg += (
                " (on this page: choose a zone layer in the filter bar; it bounds the study area)"
            )
        return figures.empty_figure("see the message"), html.Div(msg, className="error"), [], []
    column = "pattern" if by != "none" else "class"
    c = res.counts
    if by != "none":
        head = (
            f"Emerging hot spots by {by}: {c['n_cells']} cells over {c['n_periods']} periods; "
            + (", ".join(f"{p} {c['n_' + p.replace(' ', '_')]}" for p in PATTERNS[:-1]))
        )
        shown = res.table.filter(pl.col("pattern") != "no pattern")
    else:
        what = "calls" if metric == "volume" else f"late {INTERVALS[interval][0].lower()}"
        head = (
            f"Gi* of {what}: {c['n_hot']} hot and {c['n_cold']} cold of {c['n_tested']} tested "
            f"cells (FDR-corrected, alpha {res.alpha:g}, {res.permutations} permutations, "
            f"seed {res.seed})" + (f"; {c['n_too_few']} too few" if c.get("n_too_few") else "")
        )
        shown = res.table.filter(pl.col("class").is_in(["hot", "cold"]))
    notes = [html.Div(n, style={"color": "#666", "fontSize": "12px"}) for n in res.notes]
    summary = html.Div([html.Div(head, id="hs-headline"), *notes])
    data, cols = people_table(shown.drop("latitude", "longitude"))
    return hotspot_figure(res.table, column, tile_url), summary, data, cols
