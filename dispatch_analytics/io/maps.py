"""Static maps of a polygon layer coloured by one column, with optional point layers.

:func:`render_map` draws a choropleth (zones, cells) to ``.png`` or ``.pdf`` (matplotlib through
GeoPandas' ``plot``, :mod:`.maps_static`) or to a self-contained ``.html`` (plotly with its
JavaScript inlined, :mod:`.maps_html`): a title, the date range, a legend with a readable
label (durations as m:ss, shares as %, counts with separators; a category per colour for
text columns), a north arrow, a scale bar and point markers with labels (stations).

Nothing is fetched: there is no base map (no tiles, no CDN). The layer is drawn in its UTM
zone (``GeoDataFrame.estimate_utm_crs``), so the scale bar is true in metres and grid north,
which the arrow shows, is within a few degrees of true north.

Layer 1: takes GeoDataFrames, never opens the store.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..errors import ExportError
from .export import check_writable
from .map_style import MapSpec, PointLayer, nice_length, tick_text, value_kind

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "MAP_FORMATS",
    "MapSpec",
    "PointLayer",
    "check_map_output",
    "map_format",
    "nice_length",
    "render_map",
    "tick_text",
    "value_kind",
]

#: Output formats by extension.
MAP_FORMATS: dict[str, str] = {".png": "png", ".pdf": "pdf", ".html": "html", ".htm": "html"}


def map_format(path: str | os.PathLike) -> str | None:
    """``png``, ``pdf`` or ``html`` from the extension, or None."""
    return MAP_FORMATS.get(Path(path).suffix.lower())


def _path_problems(path: Path, problems: list[str]) -> str | None:
    f = map_format(path)
    if f is None:
        problems.append(
            f"`--out` {path.name!r}: a map is written as .png, .pdf or .html; rename it "
            f"(e.g. {path.stem}.png)"
        )
    check_writable(path, problems)
    return f


def check_map_output(path: str | os.PathLike) -> str:
    """Check a map's output path before any work: its extension and folder.

    Parameters
    ----------
    path : path

    Returns
    -------
    str
        ``png``, ``pdf`` or ``html``.

    Raises
    ------
    ExportError
    """
    problems: list[str] = []
    f = _path_problems(Path(path), problems)
    if problems:
        raise ExportError(problems, f"cannot draw the map {path}")
    assert f is not None
    return f


def _check(layer, column: str, path: Path, spec: MapSpec) -> str:
    import geopandas as gpd

    problems: list[str] = []
    f = _path_problems(path, problems)
    if not isinstance(layer, gpd.GeoDataFrame) or len(layer) == 0:
        problems.append("nothing to map: the layer has no rows; check the layer and the dates")
    else:
        if column not in layer.columns:
            cols = [c for c in layer.columns if c != layer.geometry.name]
            problems.append(
                f"`--by` column {column!r} is not in the layer; columns: {', '.join(cols)}"
            )
        if layer.crs is None:
            problems.append("the layer has no CRS; set one (gdf.set_crs) before mapping")
    for p in spec.points:
        if p.label is not None and p.label not in p.frame.columns:
            problems.append(f"point layer {p.name}: label column {p.label!r} is missing")
    if problems:
        raise ExportError(problems, f"cannot draw the map {path}")
    assert f is not None
    return f


def render_map(
    layer: gpd.GeoDataFrame,
    column: str,
    path: str | os.PathLike,
    spec: MapSpec,
    dpi: int = 150,
) -> Path:
    """Draw ``layer`` coloured by ``column`` to a PNG, PDF or self-contained HTML file.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        Polygons (any CRS), one row per zone / cell.
    column : str
        The column that sets the colours (numbers: a colour bar; text: a colour per value).
    path : path
        ``.png``, ``.pdf`` or ``.html``; its folder must exist; replaced atomically.
    spec : MapSpec
        Title, date range, legend label, point layers (stations), hover columns.
    dpi : int
        Resolution of PNG output.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ExportError
        Unknown extension, unwritable path, empty layer, unknown column, no CRS.
    """
    path = Path(path)
    f = _check(layer, column, path, spec)
    utm = layer.estimate_utm_crs()
    proj = layer.to_crs(utm)
    points = [PointLayer(p.frame.to_crs(utm), p.label, p.name) for p in spec.points if len(p.frame)]
    spec = MapSpec(**{**spec.__dict__, "points": points})
    if spec.footer is None:
        spec.footer = (
            f"dispatch-analytics {__version__} · {utm.name} · no base map · "
            "percentiles nearest-rank"
        )
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        if f == "html":
            from .maps_html import render_html

            render_html(proj, column, tmp, spec)
        else:
            from .maps_static import render_static

            render_static(proj, column, tmp, spec, f, dpi)
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"cannot write the map {path}: {exc}; choose another path") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path
