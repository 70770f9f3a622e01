"""The data-quality page (per agency): rejected rows by the date of their call and by
reason, incidents outside zones."""

from __future__ import annotations

import polars as pl
from dash import dcc, html

from .. import figures, stats
from ..components import CARD, data_table, people_table
from ..data import DataSource
from ..filters import Filters

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
    """Rejected rows per date of their call (local), stacked by reason; rows whose whole
    call was rejected have no date and are counted in the title."""
    if not ro.height:
        return figures.empty_figure("No rejected rows.")
    import plotly.graph_objects as go

    from dispatch_analytics import fmt

    dated = ro.filter(pl.col("local_date").is_not_null())
    undated = int(ro.filter(pl.col("local_date").is_null())["n"].sum())
    fig = go.Figure()
    for reason in sorted(set(ro["reason"].to_list())):
        sub = dated.filter(pl.col("reason") == reason)
        fig.add_trace(
            go.Bar(
                x=sub["local_date"].to_list(),
                y=sub["n"].to_list(),
                name=reason.replace("_", " "),
            )
        )
    title = "Rejected rows by date of the call and reason"
    if undated:
        title += f" ({fmt.count(undated)} more whose call was rejected whole: date unknown)"
    fig.update_layout(barmode="stack", height=380, margin=dict(l=50, r=10, t=80, b=30))
    fig.update_layout(yaxis_title="rows")
    figures.titled(fig, title, 380)
    return fig


def quality_view(ds: DataSource, f: Filters | None = None):
    """(rejects figure, reasons data, reasons columns, outside data, outside columns), for
    the filters' agency."""
    snap = ds.snapshot()
    agency = snap.agency(f.agency if f else None)
    fig = _rejects_figure(stats.rejects_over_time(snap, agency))
    reasons = snap.query(
        "select replace(reason, '_', ' ') as reason, count(*) as rows from rejects_t "
        "where agency = $a group by 1 order by 2 desc",
        {"a": agency},
    )
    outside = stats.outside_zones(snap, agency)
    d1, c1 = people_table(reasons)
    d2, c2 = people_table(outside)
    return fig, d1, c1, d2, c2
