"""The map page: zones coloured by an interval's percentile, compliance, volume or gap; the
clicked zone's breakdown; and the H3 hexagon layer."""

from __future__ import annotations

import polars as pl
from dash import dcc, html, no_update

from .. import figures, stats, stats_map
from ..components import CARD, ROW, data_table, people_table
from ..data import INTERVALS, DataSource
from ..figures import METRIC_CHOICES
from ..filters import Filters

__all__ = ["clicked_zone", "layout", "map_outputs", "map_view", "zone_names"]

_GRAPH_CONFIG = {"displaylogo": False}


def _controls() -> html.Div:
    """What to colour the zones and the hexagons by, and for which interval."""
    return html.Div(
        [
            html.Div(
                [
                    html.Label("Colour zones by"),
                    dcc.RadioItems(
                        id="map-value",
                        value="p",
                        inline=True,
                        options=[{"label": v, "value": k} for k, v in METRIC_CHOICES.items()],
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("Interval"),
                    dcc.Dropdown(
                        id="map-metric",
                        value="total_response",
                        clearable=False,
                        options=[{"label": v[0], "value": k} for k, v in INTERVALS.items()],
                    ),
                ],
                style={"minWidth": "240px"},
            ),
            html.Div(
                [
                    html.Label("Hexagons"),
                    dcc.RadioItems(
                        id="hex-value",
                        value="volume",
                        inline=True,
                        options=[
                            {"label": "volume", "value": "volume"},
                            {"label": "late-response rate", "value": "late_rate"},
                        ],
                    ),
                ]
            ),
        ],
        style={**ROW, "gap": "24px", "padding": "6px"},
    )


def layout() -> html.Div:
    """The map page's structure (figures and the breakdown are filled by a callback)."""
    zones = html.Div(
        dcc.Graph(id="map-zones", config=dict(_GRAPH_CONFIG)), style={**CARD, "flex": "2 1 520px"}
    )
    breakdown = html.Div(
        [
            html.H4("Zone breakdown", style={"margin": "4px"}),
            html.Div(id="zone-title", children="Click a zone on the map."),
            data_table("zone-breakdown", 10),
        ],
        style=CARD,
    )
    return html.Div(
        [
            _controls(),
            html.Div([zones, breakdown], style=ROW),
            html.Div(dcc.Graph(id="map-hex", config=dict(_GRAPH_CONFIG)), style=CARD),
        ]
    )


def clicked_zone(click: dict | None):
    """The zone id of a click on the zone map (``no_update`` when nothing was hit)."""
    if click and click.get("points"):
        return click["points"][0].get("location")
    return no_update


def _zones(snap, f: Filters, targets, value, metric, selected, layer_geojson, stations, tile_url):
    """(zone figure, breakdown frame, title) for the chosen layer."""
    t, pct = targets.get(metric, (None, 90.0))
    layer = f.layer
    if not layer or layer not in snap.layers or layer_geojson is None:
        msg = (
            "Load a zone layer (dispatch zones load ...) and choose it in the filters."
            if not snap.layers
            else "Choose a zone layer in the filters."
        )
        return figures.empty_figure(msg), pl.DataFrame(), msg
    df = stats.zone_stats(snap, f, layer, metric, t, pct)
    col = {"p": "p_s", "compliance": "compliance", "volume": "volume", "gap_s": "gap_s"}[value]
    df = df.with_columns(pl.col(col).alias(value)) if col != value else df
    names = zone_names(snap, layer)
    df = df.with_columns(
        pl.col("zone_id").replace_strict(names, default=None, return_dtype=pl.String).alias("name")
    )
    zone_fig = figures.choropleth_figure(layer_geojson, df, value, stations, tile_url, selected)
    if not selected:
        return zone_fig, pl.DataFrame(), "Click a zone on the map."
    tmap = {m: v[0] for m, v in targets.items()}
    breakdown = stats.zone_breakdown(snap, f, layer, selected, tmap, pct)
    return zone_fig, breakdown, f"{names.get(selected) or selected} ({layer})"


def zone_names(snap, layer: str) -> dict[str, str]:
    """zone_id -> display name of a layer's zones (the id when the layer has no names)."""
    df = snap.query(
        "select zone_id, coalesce(any_value(name), zone_id) as name from zones "
        "where layer = $l group by 1",
        {"l": layer},
    )
    return dict(zip(df["zone_id"].to_list(), df["name"].to_list(), strict=True))


def _hexagons(snap, f: Filters, targets, metric, hex_value, cells_geojson, tile_url):
    """The H3 hexagon figure of the agency's calls, at a resolution its extent shows (or a
    note when no cells are computed yet)."""
    if cells_geojson is None:
        return figures.empty_figure("No H3 cells yet (they are computed with zone assignment).")
    from dispatch_analytics.analysis.hotspots import cells_geodataframe

    t, _pct = targets.get(metric, (None, 90.0))
    res = figures.hex_resolution(stats_map.hex_bounds(snap, f))
    hx = stats_map.hex_stats(snap, f, metric, t, resolution=res)
    if not hx.height:
        return figures.empty_figure()
    gj = figures.geojson_of(cells_geodataframe(hx.select("h3_cell")))
    fig = figures.hex_figure(gj, hx, hex_value, tile_url)
    fig.update_layout(meta={"h3_resolution": res})
    return fig


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
    """The zone choropleth, the hexagon layer and the clicked zone's breakdown.

    Returns
    -------
    tuple
        (zone figure, hexagon figure, breakdown data, breakdown columns, title).
    """
    snap = ds.snapshot()
    zone_fig, breakdown, title = _zones(
        snap, f, targets, value, metric, selected, layer_geojson, stations, tile_url
    )
    hex_fig = _hexagons(snap, f, targets, metric, hex_value, cells_geojson, tile_url)
    data, cols = people_table(breakdown)
    return zone_fig, hex_fig, data, cols, title


def map_outputs(
    ds: DataSource, f: Filters, targets, geo, tile_url, value, metric, hex_value, selected
):
    """:func:`map_view` with the geometry from ``geo`` (an ``app.GeoCache``).

    A selected zone that is not in the current layer is dropped.
    """
    gj = geo.layer(f.layer) if f.layer else None
    if selected and gj is not None and selected not in geo.zone_ids(f.layer):
        selected = None
    return map_view(
        ds,
        f,
        targets,
        value,
        metric,
        hex_value,
        selected,
        gj,
        geo.stations(),
        geo.cells(),
        tile_url,
    )
