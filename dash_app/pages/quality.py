"""The data-quality page: rejected rows over time and by reason, incidents outside zones."""

from __future__ import annotations

import polars as pl
from dash import dcc, html

from .. import figures, stats
from ..components import CARD, data_table, table_props
from ..data import DataSource

__all__ = ["layout", "quality_view"]


def _titled_table(title: str, id_: str) -> html.Div:
    return html.Div([html.H4(title, style={"margin": "4px"}), data_table(id_)], style=CARD)


def layout() -> html.Div:
    """The quality page's structure (the figure and tables are filled by a callback)."""
    return html.Div(
        [
            html.Div(dcc.Graph(id="quality-rejects"), style=CARD),
            _titled_table("Rejected rows by reason", "quality-reasons"),
            _titled_table("Incidents outside zones", "quality-outside"),
        ]
    )


def _rejects_figure(ro: pl.DataFrame):
    """Rejected rows per ingest day, stacked by reason."""
    if not ro.height:
        return figures.empty_figure("No rejected rows.")
    import plotly.graph_objects as go

    fig = go.Figure()
    for reason in sorted(set(ro["reason"].to_list())):
        sub = ro.filter(pl.col("reason") == reason)
        fig.add_trace(go.Bar(x=sub["ingested_on"].to_list(), y=sub["n"].to_list(), name=reason))
    fig.update_layout(
        barmode="stack",
        title="Rejected rows by ingest day and reason",
        height=360,
        margin=dict(l=40, r=10, t=40, b=30),
    )
    return fig


def quality_view(ds: DataSource):
    """(rejects figure, reasons data, reasons columns, outside data, outside columns)."""
    snap = ds.snapshot()
    fig = _rejects_figure(stats.rejects_over_time(snap))
    reasons = snap.query(
        "select reason, count(*) as rows from rejects_t group by 1 order by 2 desc"
    )
    outside = stats.outside_zones(snap)
    d1, c1 = table_props(reasons)
    d2, c2 = table_props(outside)
    return fig, d1, c1, d2, c2
