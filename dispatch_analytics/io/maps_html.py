"""Self-contained HTML maps: plotly with its JavaScript inlined (used by :mod:`.maps`).

The polygons are drawn as filled ``Scatter`` traces on plain x / y axes in UTM metres (equal
aspect), not on a plotly ``geo`` or ``map`` subplot: those fetch topology or map styles, glyphs
and tiles from the network, this fetches nothing. A hover on a polygon shows its values
formatted for people (m:ss, %); the colour bar's ticks are formatted the same way; the north
arrow is an annotation, the scale bar a line in data coordinates (1, 2 or 5 x 10^k metres).
"""

from __future__ import annotations

import html
from pathlib import Path

from .. import fmt
from .map_style import (
    NO_DATA_COLOR,
    MapSpec,
    colour_values,
    legend_label,
    length_text,
    nice_length,
    tick_text,
    ticks,
    value_kind,
)

__all__ = ["render_html", "ring_coordinates"]


def ring_coordinates(geom) -> tuple[list[float | None], list[float | None]]:
    """x and y of every ring of a (multi)polygon, rings separated by None (plotly's gaps)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    if geom is None or geom.is_empty:
        return xs, ys
    polys = getattr(geom, "geoms", [geom])
    for poly in polys:
        for ring in [poly.exterior, *poly.interiors]:
            x, y = ring.xy
            xs += [*map(float, x), None]
            ys += [*map(float, y), None]
    return xs, ys


def _hover(row, columns, id_column) -> str:
    head = f"<b>{html.escape(str(row[id_column]))}</b>" if id_column else ""
    lines = [
        f"{html.escape(fmt.label(c))}: {html.escape(fmt.value(c, row[c]))}"
        for c in columns
        if c != id_column
    ]
    return "<br>".join([head, *lines] if head else lines)


def _colorbar(fig, proj, column, kind, cmap, norm, label) -> None:
    import matplotlib.colors as mcolors
    import numpy as np
    import plotly.graph_objects as go

    scale = [[t, mcolors.to_hex(cmap(t))] for t in np.linspace(0, 1, 11)]
    tickvals = ticks(kind, norm.vmin, norm.vmax)
    x0, y0 = float(proj.total_bounds[0]), float(proj.total_bounds[1])
    fig.add_trace(
        go.Scatter(
            x=[x0, x0],
            y=[y0, y0],
            mode="markers",
            marker={
                "color": [norm.vmin, norm.vmax],
                "colorscale": scale,
                "cmin": norm.vmin,
                "cmax": norm.vmax,
                "opacity": 0,
                "showscale": True,
                "colorbar": {
                    "title": {"text": label},
                    "tickvals": tickvals,
                    "ticktext": [tick_text(kind, v) for v in tickvals],
                    "len": 0.6,
                },
            },
            hoverinfo="skip",
            showlegend=False,
        )
    )


def _scale_bar(fig, proj) -> None:
    x0, y0, x1, y1 = (float(v) for v in proj.total_bounds)
    length = nice_length(x1 - x0)
    bx, by = x0 + 0.02 * (x1 - x0), y0 - 0.04 * (y1 - y0)
    tick = 0.012 * (y1 - y0)
    for shape in (
        ((bx, by), (bx + length, by)),
        ((bx, by - tick), (bx, by + tick)),
        ((bx + length, by - tick), (bx + length, by + tick)),
    ):
        (ax, ay), (bx2, by2) = shape
        fig.add_shape(
            type="line", x0=ax, y0=ay, x1=bx2, y1=by2, line={"color": "black", "width": 3}
        )
    fig.add_annotation(
        x=bx + length / 2, y=by + tick, text=length_text(length), showarrow=False, yanchor="bottom"
    )


def _north_arrow(fig) -> None:
    fig.add_annotation(
        x=0.97, y=0.93, xref="paper", yref="paper", ax=0, ay=45, text="", showarrow=True,
        arrowhead=2, arrowsize=1.2, arrowwidth=4, arrowcolor="black",
    )  # fmt: skip
    fig.add_annotation(
        x=0.97, y=0.94, xref="paper", yref="paper", text="<b>N</b>", showarrow=False,
        font={"size": 16}, yanchor="bottom",
    )  # fmt: skip


def _points(fig, spec: MapSpec) -> None:
    import plotly.graph_objects as go

    for p in spec.points:
        labels = [str(v) for v in p.frame[p.label]] if p.label else None
        fig.add_trace(
            go.Scatter(
                x=list(p.frame.geometry.x),
                y=list(p.frame.geometry.y),
                mode="markers+text" if labels else "markers",
                text=labels,
                textposition="top right",
                textfont={"size": 9},
                marker={"symbol": "triangle-up", "size": 10, "color": "#111111"},
                name=p.name,
                hovertemplate=f"{p.name[:-1] if p.name.endswith('s') else p.name} %{{text}}"
                "<extra></extra>",
            )
        )


# Long: one trace per polygon, then the legend, colour bar, points, arrow, bar and layout.
def render_html(proj, column: str, path: Path, spec: MapSpec) -> None:
    """Draw the projected layer to a self-contained HTML file (plotly.js inlined)."""
    import plotly.graph_objects as go

    kind = value_kind(proj, column)
    colours, categories, (cmap, norm) = colour_values(proj, column, kind)
    gcol = proj.geometry.name
    attrs = [c for c in proj.columns if c != gcol]
    hover_cols = list(spec.hover_columns) if spec.hover_columns else attrs
    id_col = spec.id_column or ("name" if "name" in attrs else attrs[0] if attrs else None)
    x0, y0, x1, y1 = (float(v) for v in proj.total_bounds)
    simplified = proj.geometry.simplify(max(x1 - x0, y1 - y0) / 4000)
    fig = go.Figure()
    shown: set[str] = set()
    for i, (geom, colour) in enumerate(zip(simplified, colours, strict=True)):
        row = proj.iloc[i]
        xs, ys = ring_coordinates(geom)
        group = (
            str(row[column]).replace("_", " ")
            if kind == "category" and colour != NO_DATA_COLOR
            else None
        )
        group = group or ("no data" if colour == NO_DATA_COLOR else None)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                fill="toself",
                fillcolor=colour,
                line={"color": "white", "width": 0.8},
                hoveron="fills",
                text=_hover(row, hover_cols, id_col),
                hoverinfo="text",
                name=group or str(row[id_col]) if id_col else group or "",
                legendgroup=group,
                showlegend=bool(group) and group not in shown,
            )
        )
        if group:
            shown.add(group)
    label = legend_label(column, kind, spec.legend)
    if kind != "category":
        _colorbar(fig, proj, column, kind, cmap, norm, label)
    _points(fig, spec)
    _scale_bar(fig, proj)
    _north_arrow(fig)
    sub = " · ".join(s for s in (spec.date_range, spec.subtitle) if s)
    fig.update_layout(
        title={
            "text": f"<b>{html.escape(spec.title)}</b>"
            + (f"<br><sup>{html.escape(sub)}</sup>" if sub else "")
        },
        template="plotly_white",
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1},
        legend={
            "title": {"text": label if kind == "category" else ""},
            "x": 1.0,
            "y": 0.0,
            "yanchor": "bottom",
        },
        margin={"l": 10, "r": 10, "t": 70, "b": 40},
        height=800,
        plot_bgcolor="white",
        hovermode="closest",
    )
    if spec.footer:
        fig.add_annotation(
            x=0, y=-0.03, xref="paper", yref="paper", text=html.escape(spec.footer),
            showarrow=False, font={"size": 10, "color": "#666666"}, xanchor="left",
        )  # fmt: skip
    fig.write_html(
        path,
        include_plotlyjs=True,
        include_mathjax=False,
        full_html=True,
        config={"displaylogo": False, "responsive": True},
    )
