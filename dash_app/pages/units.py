"""The units & stations page: turnout by unit, unit workload, first-due reliability; and the
reliability analysis (call concurrency, unit-hour utilisation, cross-area responses) from
``dispatch_analytics.analysis.reliability``."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from dash import dcc, html

from dispatch_analytics.analysis.reliability import Reliability
from dispatch_analytics.errors import DispatchError

from .. import figures, stats
from ..components import CARD, ROW, data_table, people_table
from ..data import DataSource
from ..filters import Filters

__all__ = ["layout", "units_view", "reliability_view", "cross_area_figure"]


def layout() -> html.Div:
    """The units page's structure (figures and the table are filled by a callback)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Div(dcc.Graph(id="units-turnout"), style=CARD),
                    html.Div(dcc.Graph(id="units-workload"), style=CARD),
                ],
                style=ROW,
            ),
            html.Div(
                [
                    html.H4("First-due reliability", style={"margin": "4px"}),
                    html.Div(id="first-due-note"),
                    data_table("first-due-table"),
                ],
                style=CARD,
            ),
            html.H4("Reliability", style={"margin": "10px 6px 0"}),
            html.Div(id="units-reliability-note", style={"padding": "0 8px", "color": "#555"}),
            html.Div(
                [
                    html.Div(dcc.Graph(id="units-uhu"), style=CARD),
                    html.Div(dcc.Graph(id="units-concurrency"), style=CARD),
                ],
                style=ROW,
            ),
            html.Div(dcc.Graph(id="units-cross-area"), style=CARD),
        ]
    )


def cross_area_figure(matrix: pl.DataFrame | None) -> go.Figure:
    """Heatmap of unit responses: station areas (rows) by responding station (columns)."""
    if matrix is None or matrix.height == 0:
        return figures.empty_figure(
            "choose a station-area zone layer in the filters for the cross-area matrix"
        )
    cols = [c for c in matrix.columns if c != "zone_id"]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.select(cols).to_numpy().tolist(),
            x=cols,
            y=[str(z) for z in matrix["zone_id"].to_list()],
            colorscale="Blues",
            colorbar={"title": "responses"},
            hovertemplate="area %{y}, station %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="responding station",
        yaxis_title="station area",
        margin=dict(l=80, r=10, t=80, b=60),
        height=460,
    )
    figures.titled(fig, "Cross-area responses: which station's units answer in which area", 460)
    return fig


def reliability_view(ds: DataSource, f: Filters, top: int = 30):
    """(UHU figure, concurrency figure, cross-area figure, note) over the filter dates."""
    snap = ds.snapshot()
    layer = f.layer if f.layer in snap.layers else None

    def build():
        cur = snap.con.cursor()
        try:
            return Reliability.from_store(
                cur, layer=layer, start=f.date_from, end=f.date_to, agency=f.agency
            )
        finally:
            cur.close()

    try:
        rel = snap.memo(("reliability", f.agency, f.date_from, f.date_to, layer), build)
    except DispatchError as exc:
        e = figures.empty_figure(str(exc))
        return e, e, e, str(exc)
    u = rel.utilization.head(top)
    uhu = figures.bar_figure(
        u.sort("uhu").with_columns((pl.col("uhu") * 100).alias("uhu_pct")),
        "unit_id",
        "uhu_pct",
        f"Unit-hour utilisation, % of {rel.start}..{rel.end} committed (busiest {u.height})",
        None,
        horizontal=True,
    )
    c = rel.concurrency
    x = "zone_id" if layer else "hour"
    conc = figures.bar_figure(
        c.with_columns(pl.col(x).cast(pl.String)),
        x,
        "mean_concurrent",
        "Other incidents in progress when a call arrives (mean)"
        + (f", by zone of {layer}" if layer else ", by local hour"),
        None,
    )
    note = " ".join(rel.notes)
    return uhu, conc, cross_area_figure(rel.cross_area_matrix()), note


def units_view(ds: DataSource, f: Filters, targets):
    """(turnout figure, workload figure, first-due data, first-due columns, note)."""
    snap = ds.snapshot()
    target_s, pct = targets.get("turnout", (None, 90.0))
    tu = stats.unit_turnout(snap, f, target_s, pct)
    turn = figures.bar_figure(
        tu.sort("p_s"),
        "unit_id",
        "p_s",
        f"Turnout, {pct:g}th percentile by unit (m:ss); target {stats.target_label(target_s)}",
        stats.target_lines(target_s),
        horizontal=True,
    )
    wl = stats.unit_workload(snap, f)
    work = figures.bar_figure(
        wl.sort("committed_h"),
        "unit_id",
        "committed_h",
        "Unit workload (hours committed)",
        None,
        horizontal=True,
    )
    if f.layer and f.layer in snap.layers:
        fd = stats.first_due_reliability(snap, f, f.layer)
        note = (
            f"Layer '{f.layer}' read as station areas: the share of each area's incidents "
            "whose first-arriving unit belongs to that station."
        )
    else:
        fd, note = pl.DataFrame(), "Choose a station-area zone layer in the filters."
    data, cols = people_table(fd)
    return turn, work, data, cols, note
