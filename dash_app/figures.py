"""Pure figure builders: data frames in, Plotly figures out (no I/O, no app state)."""

from __future__ import annotations

import json
import math

import plotly.graph_objects as go
import polars as pl

from dispatch_analytics import fmt

__all__ = [
    "sparkline",
    "trend_figure",
    "heatmap_figure",
    "volume_figure",
    "choropleth_figure",
    "hex_figure",
    "bar_figure",
    "empty_figure",
    "duration_axis",
    "titled",
    "frame",
    "geojson_bounds",
    "hex_resolution",
    "colorbar",
    "METRIC_CHOICES",
]

METRIC_CHOICES = {
    "p": "90th percentile",
    "compliance": "compliance",
    "volume": "calls",
    "gap_s": "gap to target",
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


def duration_axis(fig: go.Figure, values, axis: str = "y") -> None:
    """Label a seconds axis in m:ss (ticks every 10 s .. 2 h, whatever the range fits)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    lo, hi = (min(vals + [0.0]), max(vals)) if vals else (0.0, 60.0)
    tickvals, ticktext = fmt.duration_ticks(lo, hi)
    fig.update_layout(
        {f"{axis}axis": {"tickvals": tickvals, "ticktext": ticktext, "title": "m:ss"}}
    )


def titled(fig: go.Figure, title: str | None, height: int = 440) -> None:
    """A chart title at the top left, on its own line below the toolbar (which Plotly draws
    in the top 30 px), so neither hides the other."""
    if title:
        fig.update_layout(
            title={
                "text": title,
                "x": 0.01,
                "xanchor": "left",
                "yref": "container",
                "y": 1 - 36 / height,
                "yanchor": "top",
                "font": {"size": 14},
            },
            margin={"t": 80},
        )


def trend_figure(
    series: dict[str, pl.DataFrame],
    targets: dict[str, float | None],
    pct: float,
    labels: dict[str, str] | None = None,
) -> go.Figure:
    """Percentile per period for several intervals, each with its target as a dashed line;
    the axis and the hover text in m:ss."""
    labels = labels or {}
    fig = go.Figure()
    values: list = []
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for k, (name, df) in enumerate(series.items()):
        color = palette[k % len(palette)]
        label = labels.get(name, name)
        ys = df["p_s"].to_list()
        values += ys
        fig.add_trace(
            go.Scatter(
                x=df["period_start"].to_list(),
                y=ys,
                mode="lines+markers",
                name=f"{label}, {fmt.number(pct)}th pct",
                line={"color": color},
                customdata=[fmt.duration(v) for v in ys],
                hovertemplate="%{x}<br>%{customdata}<extra>" + label + "</extra>",
            )
        )
        t = targets.get(name)
        if t is not None and df.height:
            values.append(t)
            x = df["period_start"].to_list()
            fig.add_trace(
                go.Scatter(
                    x=[x[0], x[-1]],
                    y=[t, t],
                    mode="lines",
                    name=f"{label} target {fmt.duration(t)}",
                    line={"color": color, "dash": "dash"},
                    hoverinfo="skip",
                )
            )
    fig.update_layout(margin=_MARGIN, height=400, legend={"orientation": "h", "y": -0.15})
    duration_axis(fig, values)
    return fig


def heatmap_figure(df: pl.DataFrame, value: str = "n") -> go.Figure:
    """Hour of day (x) by weekday (y)."""
    z = [[None] * 24 for _ in range(7)]
    for row in df.iter_rows(named=True):
        z[int(row["weekday"]) - 1][int(row["hour"])] = row[value]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(24)),
            y=_WEEKDAYS,
            colorscale="YlOrRd",
            colorbar=colorbar({"n": "calls"}.get(value, fmt.label(value))),
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
    fig.update_layout(barmode="stack", margin=_MARGIN, height=320, yaxis_title="calls")
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


#: the map's drawing area assumed when framing (px): the map card's smallest width, its height
MAP_WIDTH_PX, MAP_HEIGHT_PX = 520, 520
_TILE_PX = 512  # MapLibre's tile size: the world is 512 * 2**zoom px wide


def geojson_bounds(geojson: dict) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of every coordinate of a FeatureCollection (None: empty)."""
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
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def frame(
    bounds: tuple[float, float, float, float] | None,
    width_px: int = MAP_WIDTH_PX,
    height_px: int = MAP_HEIGHT_PX,
    margin: float = 0.08,
) -> tuple[dict, float]:
    """The map centre and zoom that show ``bounds`` (west, south, east, north) whole in a
    ``width_px`` x ``height_px`` map, with ``margin`` (a share of the span) on every side.

    Web Mercator: at zoom z the world is 512 * 2**z px wide; the latitude span is measured in
    Mercator y, so a northern city is not clipped top and bottom.
    """
    if bounds is None:
        return {"lat": 0.0, "lon": 0.0}, 1.0
    w, s, e, n = bounds

    def merc(lat: float) -> float:
        lat = max(min(lat, 85.0), -85.0)
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    dlon = max(e - w, 1e-5) * (1 + 2 * margin)
    dy = max(merc(n) - merc(s), 1e-7) * (1 + 2 * margin)
    z_lon = math.log2(width_px * 360.0 / (_TILE_PX * dlon))
    z_lat = math.log2(height_px * 2 * math.pi / (_TILE_PX * dy))
    zoom = max(0.0, min(16.0, z_lon, z_lat))
    y0 = (merc(n) + merc(s)) / 2
    lat0 = math.degrees(2 * math.atan(math.exp(y0)) - math.pi / 2)
    return {"lat": lat0, "lon": (w + e) / 2}, zoom


def _center_zoom(geojson: dict) -> tuple[dict, float]:
    """Centre and zoom framing every feature of ``geojson`` (see :func:`frame`)."""
    return frame(geojson_bounds(geojson))


def hex_resolution(
    bounds: tuple[float, float, float, float] | None,
    finest: int = 8,
    coarsest: int = 5,
    min_edge_px: float = 5.0,
    width_px: int = MAP_WIDTH_PX,
) -> int:
    """The finest H3 resolution (at most ``finest``) whose hexagons are at least
    ``min_edge_px`` on a side when the map frames ``bounds``: a city-wide map shows
    resolution-8 cells; a region shows coarser ones instead of sub-pixel specks."""
    import h3

    if bounds is None:
        return finest
    center, zoom = frame(bounds, width_px)
    m_per_px = 40_075_016.7 * math.cos(math.radians(center["lat"])) / (_TILE_PX * 2**zoom)
    for res in range(finest, coarsest - 1, -1):
        if h3.average_hexagon_edge_length(res, unit="m") / m_per_px >= min_edge_px:
            return res
    return coarsest


def colorbar(title: str, seconds: tuple[float, float] | None = None) -> dict:
    """A colour bar whose title sits beside it, below the map's toolbar (top right); with
    ``seconds`` (low, high), its ticks in m:ss."""
    bar = {"title": {"text": title, "side": "right"}, "len": 0.8, "y": 0.45, "thickness": 14}
    if seconds is not None:
        bar["tickvals"], bar["ticktext"] = fmt.duration_ticks(*seconds, 6)
    return bar


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
    zs = df[value].to_list()
    column = {"p": "p_s"}.get(value, value)
    bar = colorbar(METRIC_CHOICES.get(value, value))
    if fmt.is_duration_column(column):
        finite = [float(v) for v in zs if v is not None and math.isfinite(float(v))]
        if finite:
            bar["tickvals"], bar["ticktext"] = fmt.duration_ticks(min(finite), max(finite), 6)
    elif value == "compliance":
        bar["tickformat"] = ".0%"
    names = df["name"].to_list() if "name" in df.columns else df["zone_id"].to_list()
    custom = [
        (names[i] or df["zone_id"][i], fmt.value(column, zs[i]), fmt.count(df["volume"][i]))
        for i in range(df.height)
    ]
    fig = go.Figure(
        go.Choroplethmap(
            geojson=geojson,
            featureidkey="properties.zone_id",
            locations=df["zone_id"].to_list(),
            z=zs,
            colorscale=scale,
            marker_opacity=0.65,
            marker_line_width=1,
            colorbar=bar,
            customdata=custom,
            hovertemplate="%{customdata[0]}<br>"
            + METRIC_CHOICES.get(value, value)
            + ": %{customdata[1]}<br>%{customdata[2]} calls<extra></extra>",
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
    """H3 hexagons coloured by volume or late-response rate, framed on the cells of ``df``
    (the agency's data), not on every cell of ``cells_geojson``."""
    wanted = set(df["h3_cell"].to_list())
    shown = {
        "type": "FeatureCollection",
        "features": [
            f for f in cells_geojson.get("features", []) if f["properties"]["h3_cell"] in wanted
        ],
    }
    title = {"volume": "calls", "late_rate": "late-response rate"}.get(value, value)
    fig = go.Figure(
        go.Choroplethmap(
            geojson=shown,
            featureidkey="properties.h3_cell",
            locations=df["h3_cell"].to_list(),
            z=df[value].to_list(),
            colorscale="YlOrRd",
            marker_opacity=0.7,
            marker_line_width=0.3,
            colorbar=colorbar(title),
        )
    )
    center, zoom = _center_zoom(shown)
    _map_layout(fig, center, zoom, tile_url)
    return fig


def bar_figure(
    df: pl.DataFrame,
    x: str,
    y: str,
    title: str,
    target: float | dict[str, float] | None = None,
    horizontal: bool = False,
) -> go.Figure:
    """A simple bar chart, optionally with target lines (one number, or ``{label: seconds}``
    for several, e.g. turnout 1:00 EMS and 1:20 fire). A ``*_s`` value axis reads m:ss."""
    if df.is_empty():
        return empty_figure()
    vals = df[y].to_list()
    text = [fmt.value(y, v) for v in vals]
    if horizontal:
        fig = go.Figure(
            go.Bar(
                y=df[x].to_list(),
                x=vals,
                orientation="h",
                customdata=text,
                hovertemplate="%{y}: %{customdata}<extra></extra>",
            )
        )
    else:
        fig = go.Figure(
            go.Bar(
                x=df[x].to_list(),
                y=vals,
                customdata=text,
                hovertemplate="%{x}: %{customdata}<extra></extra>",
            )
        )
    lines = {"target": target} if isinstance(target, int | float) else dict(target or {})
    colours = ["#c0392b", "#8e44ad", "#d35400"]
    for k, (name, t) in enumerate(lines.items()):
        label = f"{name} {fmt.value(y, t)}"
        kw = {"line_dash": "dash", "line_color": colours[k % 3], "annotation_text": label}
        if horizontal:  # labels left of the first line, right of the next: never on top
            fig.add_vline(x=t, annotation_position="top left" if k == 0 else "top right", **kw)
        else:
            fig.add_hline(y=t, annotation_position="top right" if k == 0 else "bottom right", **kw)
    fig.update_layout(margin=dict(l=60, r=10, t=80, b=40), height=440)
    titled(fig, title, 440)
    if fmt.is_duration_column(y):
        duration_axis(fig, vals + list(lines.values()), "x" if horizontal else "y")
    return fig


def geojson_of(gdf) -> dict:
    """GeoJSON dict of a GeoDataFrame (for figures)."""
    return json.loads(gdf.to_json())
