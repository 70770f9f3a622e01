"""The trends page: percentile per period against target, hour-by-weekday heatmap, volume."""

from __future__ import annotations

from dash import dcc, html

from .. import figures, stats
from ..components import CARD, ROW
from ..data import INTERVALS, DataSource
from ..filters import Filters

__all__ = ["layout", "trends_view"]


def layout() -> html.Div:
    """The trends page's structure (figures are filled by a callback)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Label("Period"),
                    dcc.RadioItems(
                        id="trend-freq",
                        value="month",
                        inline=True,
                        options=["month", "week", "day"],
                    ),
                ],
                style={"padding": "6px"},
            ),
            html.Div(dcc.Graph(id="trend-p90"), style=CARD),
            html.Div(
                [
                    html.Div(dcc.Graph(id="trend-heatmap"), style=CARD),
                    html.Div(dcc.Graph(id="trend-volume"), style=CARD),
                ],
                style=ROW,
            ),
        ]
    )


def trends_view(ds: DataSource, f: Filters, targets, freq: str):
    """(percentile trend figure, heatmap figure, volume figure) per ``freq`` period."""
    snap = ds.snapshot()
    series = stats.trends(snap, f, targets, freq)  # one fractile query for every interval
    tmap, pct = {}, 90.0
    for metric in INTERVALS:
        target_s, pct = targets.get(metric, (None, 90.0))
        tmap[metric] = stats.single_target(target_s)
    trend_fig = (
        figures.trend_figure(series, tmap, pct, {m: v[0] for m, v in INTERVALS.items()})
        if any(d.height for d in series.values())
        else figures.empty_figure()
    )
    hm = stats.heatmap(snap, f)
    heat = figures.heatmap_figure(hm) if hm.height else figures.empty_figure()
    vol = stats.volume_by_category(snap, f, freq)
    vol_fig = figures.volume_figure(vol) if vol.height else figures.empty_figure()
    return trend_fig, heat, vol_fig
