"""Pure figure builders: data frames in, Plotly figures out (no I/O, no app state)."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import polars as pl

__all__ = [
    "sparkline",
    "trend_figure",
    "heatmap_figure",
    "volume_figure",
    "choropleth_figure",
    "hex_figure",
    "bar_figure",
    "empty_figure",
    "METRIC_CHOICES",
]

METRIC_CHOICES = {
    "p": "percentile (s)",
    "compliance": "compliance",
    "volume": "volume",
    "gap_s": "gap to target (s)",
}
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MARGIN = dict(l=40, r=10, t=30, b=30)


def empty_figure(message: str = "no data for these filters") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin=_MARGIN,
        height=260,
        annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}],
    )
    return fig


def sparkline(df: pl.DataFrame, target_s: float | None) -> go.Figure:
    """A small trend line of the percentile per period, with the target dotted."""
    fig = go.Figure(
        go.Scatter(
            x=df["period_start"].to_list(), y=df["p_s"].to_list(), mode="lines", line={"width": 2}
        )
    )
    if target_s is not None:
        fig.add_hline(y=target_s, line_dash="dot", line_color="#c0392b")
    fig.update_layout(
        height=70,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def trend_figure(
    series: dict[str, pl.DataFrame], targets: dict[str, float | None], pct: float
) -> go.Figure:
    """Percentile per period for several intervals, each with its target as a dashed line."""
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for k, (name, df) in enumerate(series.items()):
        color = palette[k % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=df["period_start"].to_list(),
                y=df["p_s"].to_list(),
                mode="lines+markers",
                name=f"{name} p{pct:g}",
                line={"color": color},
            )
        )
        t = targets.get(name)
        if t is not None and df.height:
            x = df["period_start"].to_list()
            fig.add_trace(
                go.Scatter(
                    x=[x[0], x[-1]],
                    y=[t, t],
                    mode="lines",
                    name=f"{name} target",
                    line={"color": color, "dash": "dash"},
                )
            )
    fig.update_layout(
        margin=_MARGIN, height=380, yaxis_title="seconds", legend={"orientation": "h", "y": -0.15}
    )
    return fig


def heatmap_figure(df: pl.DataFrame, value: str = "n") -> go.Figure:
    """Hour of day (x) by weekday (y)."""
    z = [[None] * 24 for _ in range(7)]
    for row in df.iter_rows(named=True):
        z[int(row["weekday"]) - 1][int(row["hour"])] = row[value]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=list(range(24)), y=_WEEKDAYS, colorscale="YlOrRd", colorbar={"title": value}
        )
    )
    fig.update_layout(margin=_MARGIN, height=320, xaxis_title="local hour")
    return fig


def volume_figure(df: pl.DataFrame) -> go.Figure:
    """Stacked incident counts per period by call category."""
    fig = go.Figure()
    for cat in sorted(set(df["call_category"].to_list())):
        sub = df.filter(pl.col("call_category") == cat)
        fig.add_trace(go.Bar(x=sub["period_start"].to_list(), y=sub["n"].to_list(), name=cat))
    fig.update_layout(barmode="stack", margin=_MARGIN, height=320, yaxis_title="incidents")
    return fig


def _map_layout(fig: go.Figure, center: dict, zoom: float, tile_url: str | None) -> None:
    layers = []
    if tile_url:
        layers = [{"sourcetype": "raster", "source": [tile_url], "below": "traces"}]
    fig.update_layout(
        map={"style": "white-bg", "center": center, "zoom": zoom, "layers": layers},
        margin=dict(l=0, r=0, t=0, b=0),
        height=520,
    )


def _center_zoom(geojson: dict) -> tuple[dict, float]:
    xs, ys = [], []

    def walk(c):
        if isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for cc in c:
                walk(cc)

    for feat in geojson.get("features", []):
        walk(feat["geometry"]["coordinates"])
    if not xs:
        return {"lat": 0, "lon": 0}, 1
    import math

    span = max(max(xs) - min(xs), (max(ys) - min(ys)) * 1.5, 1e-4)
    zoom = max(1.0, min(15.0, math.log2(900 / span)))  # span fills most of ~1000 px
    return {"lat": (min(ys) + max(ys)) / 2, "lon": (min(xs) + max(xs)) / 2}, zoom


def choropleth_figure(
    geojson: dict,
    df: pl.DataFrame,
    value: str,
    stations: pl.DataFrame | None,
    tile_url: str | None = None,
    selected: str | None = None,
) -> go.Figure:
    """Zones coloured by ``value`` (percentile, compliance, volume or gap), stations on top.

    Works with no tile server: the background is plain unless ``tile_url`` is given.
    """
    scale = "RdYlGn" if value == "compliance" else "YlOrRd"
    fig = go.Figure(
        go.Choroplethmap(
            geojson=geojson,
            featureidkey="properties.zone_id",
            locations=df["zone_id"].to_list(),
            z=df[value].to_list(),
            colorscale=scale,
            marker_opacity=0.65,
            marker_line_width=1,
            colorbar={"title": METRIC_CHOICES.get(value, value)},
            customdata=df.select("volume", "n").rows(),
            hovertemplate="%{location}<br>" + value + ": %{z:.3g}<br>volume %{customdata[0]}"
            "<extra></extra>",
        )
    )
    if selected:
        sel = {
            "type": "FeatureCollection",
            "features": [f for f in geojson["features"] if f["properties"]["zone_id"] == selected],
        }
        fig.add_trace(
            go.Choroplethmap(
                geojson=sel,
                featureidkey="properties.zone_id",
                locations=[selected],
                z=[1],
                showscale=False,
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                marker_line_width=4,
                marker_line_color="#000",
                hoverinfo="skip",
            )
        )
    if stations is not None and stations.height:
        fig.add_trace(
            go.Scattermap(
                lat=stations["latitude"].to_list(),
                lon=stations["longitude"].to_list(),
                mode="markers",
                marker={"size": 9, "color": "#1a1a1a"},
                text=stations["station_id"].to_list(),
                name="stations",
                hovertemplate="station %{text}<extra></extra>",
            )
        )
    center, zoom = _center_zoom(geojson)
    _map_layout(fig, center, zoom, tile_url)
    return fig


def hex_figure(
    cells_geojson: dict, df: pl.DataFrame, value: str, tile_url: str | None = None
) -> go.Figure:
    """H3 hexagons coloured by volume or late-response rate."""
    fig = go.Figure(
        go.Choroplethmap(
            geojson=cells_geojson,
            featureidkey="properties.h3_cell",
            locations=df["h3_cell"].to_list(),
            z=df[value].to_list(),
            colorscale="YlOrRd",
            marker_opacity=0.7,
            marker_line_width=0.3,
            colorbar={"title": value},
        )
    )
    center, zoom = _center_zoom(cells_geojson)
    _map_layout(fig, center, zoom, tile_url)
    return fig


def bar_figure(
    df: pl.DataFrame,
    x: str,
    y: str,
    title: str,
    target: float | None = None,
    horizontal: bool = False,
) -> go.Figure:
    """A simple bar chart, optionally with a target line."""
    if df.is_empty():
        return empty_figure()
    if horizontal:
        fig = go.Figure(go.Bar(y=df[x].to_list(), x=df[y].to_list(), orientation="h"))
        if target is not None:
            fig.add_vline(x=target, line_dash="dash", line_color="#c0392b")
    else:
        fig = go.Figure(go.Bar(x=df[x].to_list(), y=df[y].to_list()))
        if target is not None:
            fig.add_hline(y=target, line_dash="dash", line_color="#c0392b")
    fig.update_layout(title=title, margin=dict(l=60, r=10, t=40, b=40), height=420)
    return fig


def geojson_of(gdf) -> dict:
    """GeoJSON dict of a GeoDataFrame (for figures)."""
    return json.loads(gdf.to_json())
