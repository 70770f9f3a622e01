"""PNG and PDF maps: matplotlib through GeoPandas' ``plot`` (used by :mod:`.maps`; styles from :mod:`.map_style`).

The figure is a ``matplotlib.figure.Figure`` built without pyplot (no global state, no GUI
backend). The scale bar is ``matplotlib-scalebar`` (the layer is in UTM metres, so ``dx = 1``);
the north arrow is a matplotlib annotation (no maintained library draws one).
"""

from __future__ import annotations

from pathlib import Path

from .._version import __version__
from .map_style import (
    NO_DATA_COLOR,
    MapSpec,
    colour_values,
    legend_label,
    tick_text,
    ticks,
    value_kind,
)

__all__ = ["render_static", "static_figure"]


def _north_arrow(ax) -> None:
    ax.annotate(
        "N",
        xy=(0.96, 0.97),
        xytext=(0.96, 0.88),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="top",
        fontsize=13,
        fontweight="bold",
        arrowprops={"facecolor": "black", "edgecolor": "black", "width": 4, "headwidth": 12},
        zorder=10,
    )


def _points(ax, spec: MapSpec, handles: list) -> None:
    from matplotlib.lines import Line2D

    for p in spec.points:
        ax.scatter(
            p.frame.geometry.x,
            p.frame.geometry.y,
            marker="^",
            s=28,
            c="#111111",
            edgecolors="white",
            linewidths=0.6,
            zorder=6,
        )
        if p.label is not None:
            for x, y, text in zip(
                p.frame.geometry.x, p.frame.geometry.y, p.frame[p.label], strict=True
            ):
                ax.annotate(
                    str(text),
                    (x, y),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=6,
                    color="#111111",
                    zorder=7,
                )
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                color="none",
                markerfacecolor="#111111",
                markersize=7,
                label=p.name,
            )
        )


def static_figure(proj, column: str, spec: MapSpec, feature_ids: bool = False):
    """The map as a matplotlib ``Figure`` (the layer already in metres). With
    ``feature_ids`` each polygon is its own collection with gid ``feature-<row>`` (the HTML
    map's SVG hooks its tooltips there)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter
    from matplotlib_scalebar.scalebar import ScaleBar

    kind = value_kind(proj, column)
    colours, categories, (cmap, norm) = colour_values(proj, column, kind)
    fig = Figure(figsize=(10, 8.5), layout="constrained")
    ax = fig.add_subplot()
    if feature_ids:
        for i, colour in enumerate(colours):
            proj.iloc[[i]].plot(
                ax=ax, color=colour, edgecolor="white", linewidth=0.6, gid=f"feature-{i}"
            )
    else:
        proj.plot(ax=ax, color=colours, edgecolor="white", linewidth=0.6)
    handles: list = []
    label = legend_label(column, kind, spec.legend)
    if kind == "category":
        handles += [
            Patch(facecolor=c, edgecolor="#999999", label=k.replace("_", " "))
            for k, c in categories.items()
        ]
    else:
        from matplotlib.cm import ScalarMappable

        sm = ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(
            sm,
            ax=ax,
            shrink=0.6,
            label=label,
            ticks=ticks(kind, norm.vmin, norm.vmax),
            format=FuncFormatter(lambda v, _pos: tick_text(kind, v)),
        )
    if any(c == NO_DATA_COLOR for c in colours):
        handles.append(Patch(facecolor=NO_DATA_COLOR, edgecolor="#999999", label="no data"))
    _points(ax, spec, handles)
    if handles:
        ax.legend(
            handles=handles,
            loc="lower right",
            fontsize=8,
            title=label if kind == "category" else None,
            framealpha=0.85,
        )
    ax.add_artist(ScaleBar(1, "m", location="lower left", box_alpha=0.8, length_fraction=0.25))
    _north_arrow(ax)
    ax.set_axis_off()
    ax.set_aspect("equal")
    fig.suptitle(spec.title, fontsize=15, fontweight="bold", x=0.02, ha="left")
    sub = " · ".join(s for s in (spec.date_range, spec.subtitle) if s)
    if sub:
        ax.set_title(sub, fontsize=10, loc="left", color="#333333")
    if spec.footer:
        fig.supxlabel(spec.footer, fontsize=6.5, color="#666666", x=0.01, ha="left")
    return fig


def render_static(proj, column: str, path: Path, spec: MapSpec, format: str, dpi: int) -> None:
    """Draw the projected layer to ``path`` as ``format`` (png or pdf)."""
    fig = static_figure(proj, column, spec)
    meta = (
        {"Title": spec.title, "Creator": f"dispatch-analytics {__version__}"}
        if format == "pdf"
        else {"Title": spec.title, "Software": f"dispatch-analytics {__version__}"}
    )
    fig.savefig(path, format=format, dpi=dpi, metadata=meta)
