"""What each page shows, as plain functions (callbacks are thin wrappers over these)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dash import dcc, html

from . import figures, stats
from .alerts import append_alerts, evaluate_alerts
from .data import INTERVALS, DataSource
from .filters import Filters
from .sql_console import run_console_sql

__all__ = [
    "overview_view",
    "map_view",
    "trends_view",
    "units_view",
    "quality_view",
    "sql_view",
    "table_props",
    "status_text",
]

_CARD = {
    "border": "1px solid #ddd",
    "borderRadius": "6px",
    "padding": "10px",
    "margin": "6px",
    "flex": "1 1 260px",
    "background": "#fff",
}


def _fmt_s(v) -> str:
    return "–" if v is None else f"{v:,.0f} s"


def _fmt_pct(v) -> str:
    return "–" if v is None else f"{v:.1%}"


def table_props(df: pl.DataFrame) -> tuple[list[dict], list[dict]]:
    """(data, columns) for a DataTable, with floats rounded and dates as text."""
    out = df.with_columns(
        [pl.col(c).round(3) for c, t in df.schema.items() if t in (pl.Float64, pl.Float32)]
        + [
            pl.col(c).cast(pl.String)
            for c, t in df.schema.items()
            if t.is_temporal() or t == pl.Decimal or isinstance(t, (pl.List, pl.Struct))
        ]
    )
    return out.to_dicts(), [{"name": c, "id": c} for c in out.columns]


def status_text(ds: DataSource) -> str:
    snap = ds.snapshot()
    r = snap.query("select count(*) as n, max(call_received_at) as last from inc").row(
        0, named=True
    )
    last = r["last"].strftime("%Y-%m-%d %H:%M UTC") if r["last"] else "none"
    return f"{r['n']:,} incidents; newest received {last}; data version {snap.version}"


def overview_view(
    ds: DataSource,
    f: Filters,
    targets: dict[str, tuple[float, float]],
    alerts_log: Path | None,
    window_days: int = 7,
    min_n: int = 20,
):
    """Cards per interval (percentile vs target, compliance, volume, sparkline, windows)
    and the alerts panel."""
    snap = ds.snapshot()
    cards = []
    allstats = stats.overview_stats(snap, f, targets, "week")
    for metric, (label, start, end) in INTERVALS.items():
        target_s, pct = targets.get(metric, (None, 90.0))
        s, spark, win = (allstats[metric][k] for k in ("summary", "trend", "windows"))
        # with nearest-rank, "p <= target" is "compliance >= pct%"; the latter also works
        # when the target depends on the call category
        ok = s["compliance"] is not None and target_s is not None and s["compliance"] >= pct / 100
        colour = "#2e7d32" if ok else "#c62828" if target_s is not None else "#333"
        rows = [
            html.Tr(
                [
                    html.Td(w["window"]),
                    html.Td(f"{w['n']:,}"),
                    html.Td(_fmt_s(w["p_s"])),
                    html.Td(_fmt_pct(w["compliance"]) if target_s is not None else "–"),
                ]
            )
            for w in win.iter_rows(named=True)
        ]
        cards.append(
            html.Div(
                [
                    html.Div(label, style={"fontWeight": "600"}),
                    html.Div(f"{start} → {end}", style={"fontSize": "11px", "color": "#777"}),
                    html.Div(
                        [
                            html.Span(
                                f"p{pct:g} {_fmt_s(s['p_s'])}",
                                className="kpi",
                                style={"fontSize": "24px", "color": colour},
                            ),
                            html.Span(
                                f"  target {stats.target_label(target_s)}"
                                if target_s is not None
                                else "  no target in profile"
                            ),
                        ]
                    ),
                    html.Div(
                        f"compliance {_fmt_pct(s['compliance']) if target_s is not None else '–'}"
                        f" · n {s['n']:,} · volume {s['volume']:,}"
                    ),
                    dcc.Graph(
                        figure=figures.sparkline(spark, stats.single_target(target_s)),
                        config={"displayModeBar": False},
                        style={"height": "70px"},
                    ),
                    html.Table(
                        [
                            html.Thead(
                                html.Tr(
                                    [html.Th(x) for x in ("window", "n", f"p{pct:g}", "compliance")]
                                )
                            ),
                            html.Tbody(rows),
                        ],
                        style={"fontSize": "12px", "width": "100%"},
                    ),
                ],
                style=_CARD,
                id=f"card-{metric}",
                className="interval-card",
            )
        )
    alerts = evaluate_alerts(
        snap,
        f,
        {m: v for m, v in targets.items() if v[0] is not None},
        window_days=window_days,
        min_n=min_n,
    )
    if alerts_log is not None and alerts:
        append_alerts(alerts_log, alerts)
    panel = (
        html.Ul([html.Li(a.message(), className="alert-item") for a in alerts[:50]])
        if alerts
        else html.Div(
            f"No interval is below its target share over the last {window_days} days.",
            className="no-alerts",
        )
    )
    return cards, panel


def map_view(
    ds: DataSource,
    f: Filters,
    targets,
    value: str,
    metric: str,
    hex_value: str,
    selected: str | None,
    layer_geojson,
    stations: pl.DataFrame | None,
    cells_geojson,
    tile_url: str | None,
):
    """The zone choropleth, the hexagon layer and the clicked zone's breakdown."""
    snap = ds.snapshot()
    t, pct = targets.get(metric, (None, 90.0))
    layer = f.layer
    if not layer or layer not in snap.layers or layer_geojson is None:
        msg = (
            "Load a zone layer (dispatch zones load ...) and choose it in the filters."
            if not snap.layers
            else "Choose a zone layer in the filters."
        )
        zone_fig = figures.empty_figure(msg)
        breakdown = pl.DataFrame()
        title = msg
    else:
        df = stats.zone_stats(snap, f, layer, metric, t, pct)
        col = {"p": "p_s", "compliance": "compliance", "volume": "volume", "gap_s": "gap_s"}[value]
        df = df.with_columns(pl.col(col).alias(value)) if col != value else df
        zone_fig = figures.choropleth_figure(layer_geojson, df, value, stations, tile_url, selected)
        if selected:
            tmap = {m: v[0] for m, v in targets.items()}
            breakdown = stats.zone_breakdown(snap, f, layer, selected, tmap, pct)
            title = f"{layer}: {selected}"
        else:
            breakdown, title = pl.DataFrame(), "Click a zone on the map."
    if cells_geojson is not None:
        hx = stats.hex_stats(snap, f, metric, t)
        hex_fig = (
            figures.hex_figure(cells_geojson, hx, hex_value, tile_url)
            if hx.height
            else figures.empty_figure()
        )
    else:
        hex_fig = figures.empty_figure("No H3 cells yet (they are computed with zone assignment).")
    data, cols = table_props(breakdown)
    return zone_fig, hex_fig, data, cols, title


def trends_view(ds: DataSource, f: Filters, targets, freq: str):
    snap = ds.snapshot()
    series, tmap, pct = {}, {}, 90.0
    for metric in INTERVALS:
        target_s, pct = targets.get(metric, (None, 90.0))
        series[metric] = stats.trend(snap, f, metric, target_s, pct, freq)
        tmap[metric] = stats.single_target(target_s)
    trend_fig = (
        figures.trend_figure(series, tmap, pct)
        if any(d.height for d in series.values())
        else figures.empty_figure()
    )
    hm = stats.heatmap(snap, f)
    heat = figures.heatmap_figure(hm) if hm.height else figures.empty_figure()
    vol = stats.volume_by_category(snap, f, freq)
    vol_fig = figures.volume_figure(vol) if vol.height else figures.empty_figure()
    return trend_fig, heat, vol_fig


def units_view(ds: DataSource, f: Filters, targets):
    snap = ds.snapshot()
    target_s, pct = targets.get("turnout", (None, 90.0))
    tu = stats.unit_turnout(snap, f, target_s, pct)
    turn = figures.bar_figure(
        tu.sort("p_s"),
        "unit_id",
        "p_s",
        f"Turnout p{pct:g} by unit (s); target {stats.target_label(target_s)}",
        stats.single_target(target_s),
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
    data, cols = table_props(fd)
    return turn, work, data, cols, note


def quality_view(ds: DataSource):
    snap = ds.snapshot()
    ro = stats.rejects_over_time(snap)
    if ro.height:
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
    else:
        fig = figures.empty_figure("No rejected rows.")
    reasons = snap.query(
        "select reason, count(*) as rows from rejects_t group by 1 order by 2 desc"
    )
    outside = stats.outside_zones(snap)
    d1, c1 = table_props(reasons)
    d2, c2 = table_props(outside)
    return fig, d1, c1, d2, c2


def sql_view(ds: DataSource, sql: str, params: dict | None, row_limit: int, timeout_s: float):
    """Run console SQL in the sandbox: (data, columns, error, info, csv_text)."""
    res = run_console_sql(
        ds.store.catalog_path, ds.store.lake, sql, row_limit, timeout_s, params=params
    )
    if res.error:
        return [], [], res.error, "", None
    data, cols = table_props(res.frame)
    info = f"{res.frame.height:,} rows in {res.elapsed_s:.2f} s"
    if res.truncated:
        info += f" (cut at the row limit of {row_limit:,})"
    return data, cols, "", info, res.frame.write_csv()
