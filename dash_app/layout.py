"""Page layouts. Static structure only; every figure and table is filled by a callback.

The frame shared by every page (navigation, filter bar, timer, stores) is here; each page's
body is in ``dash_app/pages/<page>.py``.
"""

from __future__ import annotations

from dash import dcc, html

from .components import filter_bar
from .pages import coverage as coverage_page
from .pages import hotspots, impact, overview, quality, sql, trends, units
from .pages import map as map_page

__all__ = ["PAGES", "app_layout", "page_layout"]

PAGES = {
    "/": "Overview",
    "/map": "Map",
    "/trends": "Trends",
    "/units": "Units & stations",
    "/hotspots": "Hotspots",
    "/impact": "Impact",
    "/quality": "Data quality",
    "/coverage": "Coverage",
    "/sql": "SQL",
}

_LAYOUTS = {
    "/map": map_page.layout,
    "/trends": trends.layout,
    "/units": units.layout,
    "/hotspots": hotspots.layout,
    "/impact": impact.layout,
    "/quality": quality.layout,
    "/coverage": coverage_page.layout,
}


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
            filter_bar(profiles, choices),
            html.Div(
                id="status-line", style={"padding": "4px 14px", "color": "#555", "fontSize": "13px"}
            ),
            html.Div(
                id="feed-status",
                style={"padding": "2px 14px", "fontSize": "13px"},
                role="status",
            ),
            html.Div(
                id="profile-line",
                style={"padding": "0 14px 4px", "color": "#555", "fontSize": "13px"},
            ),
            html.Div(id="page", style={"padding": "6px 8px"}),
        ],
        style={
            "fontFamily": "system-ui, sans-serif",
            "background": "#fafafa",
            "minHeight": "100vh",
        },
    )


def page_layout(path: str, saved_queries: list[dict]) -> html.Div:
    """The body of one page (filled by callbacks); an unknown path shows the overview."""
    if path == "/sql":
        return sql.layout(saved_queries)
    return _LAYOUTS.get(path, overview.layout)()
