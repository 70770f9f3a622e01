"""Page layouts. Static structure only; every figure and table is filled by a callback."""

from __future__ import annotations

from dash import dash_table, dcc, html

from .data import INTERVALS
from .figures import METRIC_CHOICES

__all__ = ["PAGES", "app_layout", "page_layout"]

PAGES = {
    "/": "Overview",
    "/map": "Map",
    "/trends": "Trends",
    "/units": "Units & stations",
    "/quality": "Data quality",
    "/sql": "SQL",
}

_CARD = {
    "border": "1px solid #ddd",
    "borderRadius": "6px",
    "padding": "10px",
    "margin": "6px",
    "flex": "1 1 260px",
    "background": "#fff",
}
_ROW = {"display": "flex", "flexWrap": "wrap", "alignItems": "stretch"}


def _nav() -> html.Nav:
    return html.Nav(
        [
            dcc.Link(
                name,
                href=path,
                id=f"nav-{name.split()[0].lower()}",
                style={
                    "marginRight": "18px",
                    "fontWeight": "600",
                    "color": "#eceff1",
                    "textDecoration": "none",
                },
            )
            for path, name in PAGES.items()
        ],
        style={"padding": "10px 14px", "background": "#263238"},
        className="nav",
    )


def _filters(profiles: list[str], ch: dict) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Label("Dates (local)"),
                    dcc.DatePickerRange(
                        id="f-dates",
                        display_format="YYYY-MM-DD",
                        clearable=True,
                        min_date_allowed=ch.get("date_min"),
                        max_date_allowed=ch.get("date_max"),
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("Category"),
                    dcc.Dropdown(
                        id="f-cat", multi=True, placeholder="all", options=ch.get("categories", [])
                    ),
                ],
                style={"minWidth": "180px"},
            ),
            html.Div(
                [
                    html.Label("Call type"),
                    dcc.Dropdown(
                        id="f-type", multi=True, placeholder="all", options=ch.get("call_types", [])
                    ),
                ],
                style={"minWidth": "220px"},
            ),
            html.Div(
                [
                    html.Label("Priority"),
                    dcc.Dropdown(
                        id="f-pri", multi=True, placeholder="all", options=ch.get("priorities", [])
                    ),
                ],
                style={"minWidth": "140px"},
            ),
            html.Div(
                [
                    html.Label("Zone layer"),
                    dcc.Dropdown(
                        id="f-layer",
                        clearable=True,
                        placeholder="none loaded",
                        options=ch.get("layers", []),
                    ),
                ],
                style={"minWidth": "180px"},
            ),
            html.Div(
                [
                    html.Label("Standard"),
                    dcc.Dropdown(id="f-profile", options=profiles, clearable=False),
                ],
                style={"minWidth": "140px"},
            ),
        ],
        id="filters",
        style={
            "display": "flex",
            "gap": "12px",
            "flexWrap": "wrap",
            "padding": "10px 14px",
            "background": "#eceff1",
            "alignItems": "end",
        },
    )


def app_layout(profiles: list[str], refresh_s: float, choices: dict | None = None) -> html.Div:
    """The frame shared by every page: navigation, filters, live-refresh timer, stores.

    ``choices`` (filter options) are filled in at page load so a bookmarked URL's values are
    valid options from the start."""
    choices = choices or {}
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="data-version", data=choices.get("version")),
            dcc.Store(id="selected-zone"),
            dcc.Interval(id="refresh", interval=int(refresh_s * 1000), n_intervals=0),
            _nav(),
            _filters(profiles, choices),
            html.Div(
                id="status-line", style={"padding": "4px 14px", "color": "#555", "fontSize": "13px"}
            ),
            html.Div(id="page", style={"padding": "6px 8px"}),
        ],
        style={
            "fontFamily": "system-ui, sans-serif",
            "background": "#fafafa",
            "minHeight": "100vh",
        },
    )


def _table(id_: str, page_size: int = 15) -> dash_table.DataTable:
    return dash_table.DataTable(
        id=id_,
        page_size=page_size,
        sort_action="native",
        style_table={"overflowX": "auto"},
        style_cell={"fontSize": "13px", "padding": "4px"},
        style_header={"fontWeight": "600"},
    )


def page_layout(path: str, saved_queries: list[dict]) -> html.Div:
    """The body of one page (filled by callbacks)."""
    if path == "/map":
        return html.Div(
            [
                html.Div(
                    [
                        html.Div(
                            [
                                html.Label("Colour zones by"),
                                dcc.RadioItems(
                                    id="map-value",
                                    value="p",
                                    inline=True,
                                    options=[
                                        {"label": v, "value": k} for k, v in METRIC_CHOICES.items()
                                    ],
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
                                    options=[
                                        {"label": v[0], "value": k} for k, v in INTERVALS.items()
                                    ],
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
                    style={**_ROW, "gap": "24px", "padding": "6px"},
                ),
                html.Div(
                    [
                        html.Div(
                            dcc.Graph(id="map-zones", config={"displaylogo": False}),
                            style={**_CARD, "flex": "2 1 520px"},
                        ),
                        html.Div(
                            [
                                html.H4("Zone breakdown", style={"margin": "4px"}),
                                html.Div(id="zone-title", children="Click a zone on the map."),
                                _table("zone-breakdown", 10),
                            ],
                            style=_CARD,
                        ),
                    ],
                    style=_ROW,
                ),
                html.Div(dcc.Graph(id="map-hex", config={"displaylogo": False}), style=_CARD),
            ]
        )
    if path == "/trends":
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
                html.Div(dcc.Graph(id="trend-p90"), style=_CARD),
                html.Div(
                    [
                        html.Div(dcc.Graph(id="trend-heatmap"), style=_CARD),
                        html.Div(dcc.Graph(id="trend-volume"), style=_CARD),
                    ],
                    style=_ROW,
                ),
            ]
        )
    if path == "/units":
        return html.Div(
            [
                html.Div(
                    [
                        html.Div(dcc.Graph(id="units-turnout"), style=_CARD),
                        html.Div(dcc.Graph(id="units-workload"), style=_CARD),
                    ],
                    style=_ROW,
                ),
                html.Div(
                    [
                        html.H4("First-due reliability", style={"margin": "4px"}),
                        html.Div(id="first-due-note"),
                        _table("first-due-table"),
                    ],
                    style=_CARD,
                ),
            ]
        )
    if path == "/quality":
        return html.Div(
            [
                html.Div(dcc.Graph(id="quality-rejects"), style=_CARD),
                html.Div(
                    [
                        html.H4("Rejected rows by reason", style={"margin": "4px"}),
                        _table("quality-reasons"),
                    ],
                    style=_CARD,
                ),
                html.Div(
                    [
                        html.H4("Incidents outside zones", style={"margin": "4px"}),
                        _table("quality-outside"),
                    ],
                    style=_CARD,
                ),
            ]
        )
    if path == "/sql":
        return html.Div(
            [
                html.Div(
                    [
                        html.Label("Saved query"),
                        dcc.Dropdown(
                            id="sql-saved",
                            options=[
                                {"label": q["name"], "value": q["name"]} for q in saved_queries
                            ],
                            placeholder="free SQL",
                        ),
                        html.Div(id="sql-params"),
                        html.Label("SQL (read-only; one SELECT)"),
                        dcc.Textarea(
                            id="sql-text",
                            value="select call_category, count(*) as n,\n"
                            "  quantile_disc(total_response_s, 0.9) as p90_s\nfrom incidents "
                            "group by 1 order by n desc",
                            style={"width": "100%", "height": "140px", "fontFamily": "monospace"},
                        ),
                        html.Button("Run", id="sql-run", n_clicks=0),
                        html.Button(
                            "Download CSV",
                            id="sql-download-btn",
                            n_clicks=0,
                            style={"marginLeft": "10px"},
                        ),
                        dcc.Download(id="sql-download"),
                    ],
                    style=_CARD,
                ),
                html.Div(
                    id="sql-error",
                    style={"color": "#b71c1c", "padding": "6px 10px", "whiteSpace": "pre-wrap"},
                ),
                html.Div(id="sql-info", style={"color": "#555", "padding": "0 10px"}),
                html.Div(_table("sql-result", 20), style=_CARD),
            ]
        )
    # overview
    return html.Div(
        [
            html.Div(id="overview-cards", style=_ROW),
            html.Div(
                [html.H4("Alerts", style={"margin": "4px"}), html.Div(id="alerts-panel")],
                style=_CARD,
            ),
        ]
    )
