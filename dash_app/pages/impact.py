"""The impact page: pick a before and an after period, a zone and a metric; see both periods'
figures with their uncertainty, the difference, and the trend with the periods marked. Every
number comes from ``dispatch_analytics.analysis.impact.Impact`` on the snapshot."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
from dash import dcc, html

from dispatch_analytics import fmt
from dispatch_analytics.analysis.impact import Impact
from dispatch_analytics.errors import DispatchError

from .. import figures
from ..components import CARD, ROW, data_table, people_table
from ..data import INTERVALS, DataSource
from ..filters import Filters

__all__ = ["layout", "impact_view", "impact_trend_figure", "default_periods", "zone_options"]


def layout() -> html.Div:
    """The page's controls and outputs (filled by callbacks)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Label("Before"),
                    dcc.DatePickerRange(id="imp-before", display_format="YYYY-MM-DD"),
                    html.Label("After"),
                    dcc.DatePickerRange(id="imp-after", display_format="YYYY-MM-DD"),
                    html.Label("Zone (of the filter bar's layer)"),
                    dcc.Dropdown(id="imp-zone", placeholder="whole area", style={"width": "220px"}),
                    html.Label("Metric"),
                    dcc.Dropdown(
                        id="imp-metric",
                        value="total_response",
                        clearable=False,
                        options=[{"label": v[0], "value": k} for k, v in INTERVALS.items()],
                        style={"width": "240px"},
                    ),
                ],
                style={
                    "padding": "6px",
                    "display": "flex",
                    "gap": "8px",
                    "alignItems": "center",
                    "flexWrap": "wrap",
                },
            ),
            html.Div(id="imp-warnings", style={"color": "#b03a2e", "padding": "4px 10px"}),
            html.Div(
                [
                    html.Div(
                        [
                            html.H4("Before / after", style={"margin": "4px"}),
                            data_table("imp-table"),
                            html.Div(id="imp-detail"),
                        ],
                        style=CARD,
                    ),
                    html.Div(dcc.Graph(id="imp-trend"), style={**CARD, "flex": "2 1 520px"}),
                ],
                style=ROW,
            ),
        ]
    )


def default_periods(lo: dt.date | None, hi: dt.date | None) -> tuple:
    """(before start, before end, after start, after end): the data's two halves."""
    if lo is None or hi is None:
        return None, None, None, None
    mid = lo + (hi - lo) // 2
    return lo, mid, mid + dt.timedelta(days=1), max(hi, mid + dt.timedelta(days=1))


def zone_options(snap, layer: str | None, agency: str | None = None) -> list[dict]:
    """The zones of ``layer`` (holding the agency's calls) as dropdown options, labelled by
    the zone's name (none without a layer)."""
    if not layer or layer not in snap.layers:
        return []
    rows = snap.query(
        "select z.zone_id, any_value(n.name) as name from incident_zones z "
        "left join zones n on n.layer = z.layer and n.zone_id = z.zone_id "
        "where z.layer = $l and z.zone_id is not null and ($a is null or z.agency = $a) "
        "group by 1 order by coalesce(any_value(n.name), z.zone_id)",
        {"l": layer, "a": agency},
    )
    return [
        {"label": r["name"] or r["zone_id"], "value": r["zone_id"]}
        for r in rows.iter_rows(named=True)
    ]


def impact_trend_figure(imp: Impact) -> go.Figure:
    """p90 per trend period with the before / after periods shaded and their p90 as lines."""
    t = imp.trend.filter(pl.col("n") > 0)
    if t.is_empty():
        return figures.empty_figure()
    # break the line where periods without calls lie between two points
    step = {"day": 1, "week": 7, "month": 31}[imp.trend_period] * 1.5
    xs, ys, ns = [], [], []
    for d, y, n in zip(t["period_start"], t["p90_s"], t["n"], strict=True):
        if xs and xs[-1] is not None and (d - xs[-1]).days > step:
            xs.append(None), ys.append(None), ns.append(None)
        xs.append(d), ys.append(y), ns.append(n)
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            connectgaps=False,
            name=f"p90 per {imp.trend_period}",
            customdata=[(fmt.duration(y), fmt.count(n)) for y, n in zip(ys, ns, strict=True)],
            hovertemplate="%{x}: %{customdata[0]} (%{customdata[1]} calls)<extra></extra>",
        )
    )
    for name, p, colour in (("before", imp.before, "#5d6d7e"), ("after", imp.after, "#c0392b")):
        end = p["end"] + dt.timedelta(days=1)
        fig.add_vrect(x0=p["start"], x1=end, fillcolor=colour, opacity=0.08, line_width=0)
        if p["p90_s"] is not None:
            fig.add_shape(
                type="line",
                x0=p["start"],
                x1=end,
                y0=p["p90_s"],
                y1=p["p90_s"],
                line={"color": colour, "dash": "dash"},
            )
            fig.add_annotation(
                x=p["start"],
                y=p["p90_s"],
                text=f"{name}: 90th pct {fmt.duration(p['p90_s'])}",
                showarrow=False,
                yshift=10,
                xanchor="left",
            )
    if imp.target_s:
        fig.add_hline(y=imp.target_s, line_dash="dot", line_color="#27ae60")
    fig.update_layout(margin=dict(l=60, r=10, t=80, b=40), height=420, showlegend=False)
    figures.titled(
        fig,
        f"{INTERVALS.get(imp.metric, (imp.metric,))[0]}: 90th percentile per "
        f"{imp.trend_period} (m:ss)",
        420,
    )
    figures.duration_axis(fig, [*ys, imp.target_s or 0, imp.before["p90_s"], imp.after["p90_s"]])
    return fig


def impact_view(ds: DataSource, f: Filters, b0, b1, a0, a1, zone, metric):
    """(table data, columns, detail, warnings, trend figure) for the page's controls."""
    snap = ds.snapshot()
    layer = f.layer if zone else None
    cat = f.categories[0] if len(f.categories) == 1 else None
    key = ("impact", f, b0, b1, a0, a1, zone, metric)

    def build():
        cur = snap.con.cursor()
        try:
            return Impact.from_store(
                cur,
                before=(b0, b1),
                after=(a0, a1),
                metric=metric,
                layer=layer,
                zone=zone,
                call_category=cat,
                profile=f.profile,
                seed=0,
                agency=f.agency,
            )
        finally:
            cur.close()

    try:
        imp = snap.memo(key, build)
    except DispatchError as exc:
        return [], [], "", str(exc), figures.empty_figure(str(exc))
    data, cols = people_table(imp.summary())
    d = imp.difference
    bits = []
    if d["mannwhitney_p"] is not None:
        bits.append(f"Mann-Whitney U p = {d['mannwhitney_p']:.3g}")
    if d["volume_change"] is not None:
        bits.append(f"calls per day {d['volume_change']:+.1%}")
    if d["p90_diff_reweighted_s"] is not None:
        bits.append(
            f"after p90 at the before mix {d['p90_after_reweighted_s']:.0f} s "
            f"(mix shift {d['mix_tvd']:.1%})"
        )
    detail = html.Div("; ".join(bits), id="imp-detail-text")
    return data, cols, detail, " ".join(imp.warnings), impact_trend_figure(imp)
