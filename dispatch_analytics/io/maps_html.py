"""Self-contained HTML maps: the static map as inline SVG, with a tooltip per polygon and the
values as a table (used by :mod:`.maps`).

The page has no script at all and loads nothing: the map is the same matplotlib figure as the
PNG / PDF (legend, north arrow, scale bar, station labels), written as SVG and put inline; each
polygon's ``<g>`` gets a ``<title>`` (the browser shows it on hover) with the values formatted
for people (m:ss, %); a table below lists every feature. Measured reason for not using plotly or
folium: the library may not import plotly (``tests/test_architecture.py`` keeps the dashboard's
stack out of it) and folium loads Leaflet from a CDN.
"""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import dispatch_analytics.fmt as fmt  # `from .. import fmt` would import the facade

from .._version import __version__
from .map_style import MapSpec

__all__ = ["render_html", "tooltip"]

_SVG_NS = "http://www.w3.org/2000/svg"
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em;
       color: #222; }
figure { margin: 0; max-width: 1100px; }
figure svg { width: 100%; height: auto; }
svg g[id^="feature-"]:hover path { stroke: #000; stroke-width: 2; }
table { border-collapse: collapse; margin-top: 1.5em; font-size: .9em; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def tooltip(row, columns, id_column) -> str:
    """One feature's hover text: its id, then ``label: value`` per column (m:ss, %)."""
    lines = [str(row[id_column])] if id_column else []
    lines += [f"{fmt.label(c)}: {fmt.value(c, row[c])}" for c in columns if c != id_column]
    return "\n".join(lines)


def _svg(proj, column: str, spec: MapSpec, tips: list[str]) -> str:
    from .maps_static import static_figure

    fig = static_figure(proj, column, spec, feature_ids=True)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Title": spec.title, "Date": None})
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))  # keep text comments
    root = ET.fromstring(buf.getvalue(), parser=parser)
    for md in root.findall(f"{{{_SVG_NS}}}metadata"):  # RDF about matplotlib: not needed
        root.remove(md)
    for g in root.iter(f"{{{_SVG_NS}}}g"):
        m = re.fullmatch(r"feature-(\d+)", g.get("id", ""))
        if m:
            title = ET.Element(f"{{{_SVG_NS}}}title")
            title.text = tips[int(m.group(1))]
            g.insert(0, title)
    return ET.tostring(root, encoding="unicode")


def _table(proj, columns) -> str:
    head = "".join(f"<th>{html.escape(fmt.label(c))}</th>" for c in columns)
    rows = []
    for _, row in proj.iterrows():
        cells = "".join(f"<td>{html.escape(fmt.value(c, row[c]))}</td>" for c in columns)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(proj, column: str, path: Path, spec: MapSpec) -> None:
    """Write the projected layer's map to a self-contained HTML file (inline SVG, no script)."""
    gcol = proj.geometry.name
    attrs = [c for c in proj.columns if c != gcol]
    columns = list(spec.hover_columns) if spec.hover_columns else attrs
    id_col = spec.id_column or ("name" if "name" in attrs else attrs[0] if attrs else None)
    if id_col and id_col in columns:
        columns = [id_col] + [c for c in columns if c != id_col]
    tips = [tooltip(row, columns, id_col) for _, row in proj.iterrows()]
    svg = _svg(proj, column, spec, tips)
    page = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="generator" content="dispatch-analytics {__version__}">\n'
        f"<title>{html.escape(spec.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        # the title, period, profile and footer are in the figure itself, as on the PNG
        + f"<figure>{svg}</figure>\n"
        + _table(proj, columns)
        + "\n</body>\n</html>\n"
    )
    path.write_text(page, encoding="utf-8")
