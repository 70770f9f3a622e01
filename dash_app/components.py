"""Pieces shared by the pages: card and row styles, data tables, the filter bar, formatting."""

from __future__ import annotations

import polars as pl
from dash import dash_table, dcc, html

from dispatch_analytics import fmt

__all__ = [
    "CARD",
    "ROW",
    "data_table",
    "filter_bar",
    "fmt_pct",
    "fmt_s",
    "table_props",
    "people_table",
]

CARD = {
    "border": "1px solid #ddd",
    "borderRadius": "6px",
    "padding": "10px",
    "margin": "6px",
    "flex": "1 1 260px",
    "background": "#fff",
}
"""Style of a card (a white, bordered box in a :data:`ROW`)."""

ROW = {"display": "flex", "flexWrap": "wrap", "alignItems": "stretch"}
"""Style of a row of cards that wraps on narrow screens."""


def fmt_s(v) -> str:
    """Seconds as ``m:ss`` (``12:06``), or a dash when missing (:func:`fmt.duration`)."""
    return fmt.duration(v)


def fmt_pct(v) -> str:
    """A share as ``"91.2%"``, or a dash when missing (:func:`fmt.share`)."""
    return fmt.share(v)


def people_table(df: pl.DataFrame) -> tuple[list[dict], list[dict]]:
    """(data, columns) for a DataTable that people read: durations (``*_s``) as m:ss, shares
    as %, counts with separators (:func:`fmt.padded`, so sorting still orders by size),
    columns by their human labels (:func:`fmt.label`)."""
    rows = [{c: fmt.padded(c, v) for c, v in r.items()} for r in df.iter_rows(named=True)]
    cols = [{"name": fmt.label(c), "id": c} for c in df.columns]
    return rows, cols


def table_props(df: pl.DataFrame) -> tuple[list[dict], list[dict]]:
    """(data, columns) for a DataTable of raw values (the SQL console), with floats rounded
    and dates as text."""
    out = df.with_columns(
        [pl.col(c).round(3) for c, t in df.schema.items() if t in (pl.Float64, pl.Float32)]
        + [
            pl.col(c).cast(pl.String)
            for c, t in df.schema.items()
            if t.is_temporal() or t == pl.Decimal or isinstance(t, (pl.List, pl.Struct))
        ]
    )
    return out.to_dicts(), [{"name": c, "id": c} for c in out.columns]


def data_table(id_: str, page_size: int = 15) -> dash_table.DataTable:
    """An empty, sortable DataTable; a callback fills its ``data`` and ``columns``.

    Parameters
    ----------
    id_ : str
        The component id.
    page_size : int
        Rows per page.

    Returns
    -------
    dash_table.DataTable
    """
    return dash_table.DataTable(
        id=id_,
        page_size=page_size,
        sort_action="native",
        style_table={"overflowX": "auto"},
        style_cell={"fontSize": "13px", "padding": "4px"},
        style_header={"fontWeight": "600"},
    )


def _labelled(label: str, control, min_width: str | None = None) -> html.Div:
    """A filter control under its label, optionally with a minimum width."""
    if min_width is None:
        return html.Div([html.Label(label), control])
    return html.Div([html.Label(label), control], style={"minWidth": min_width})


def _choice(id_: str, options: list, placeholder: str = "all", **kw) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, placeholder=placeholder, options=options, **kw)


def filter_bar(profiles: list[str], ch: dict) -> html.Div:
    """The filters shared by every page: agency, dates, category, call type, priority, zone
    layer, standard (every option list is the chosen agency's).

    Parameters
    ----------
    profiles : list of str
        The standards (target profiles) to choose from.
    ch : dict
        Filter choices (``stats.filter_choices``); missing keys give empty options.

    Returns
    -------
    dash.html.Div
        The bar, with id ``filters``.
    """
    dates = dcc.DatePickerRange(
        id="f-dates",
        display_format="YYYY-MM-DD",
        clearable=True,
        min_date_allowed=ch.get("date_min"),
        max_date_allowed=ch.get("date_max"),
    )
    layers = ch.get("layers", [])
    layer = _choice(
        "f-layer", layers, "choose a layer" if layers else "none loaded", clearable=True
    )
    agencies = ch.get("agencies", [])
    agency = dcc.Dropdown(
        id="f-agency",
        options=agencies,
        value=ch.get("agency"),
        clearable=False,
        placeholder="no calls yet",
    )
    return html.Div(
        [
            _labelled("Agency", agency, "180px"),
            _labelled("Dates (local)", dates),
            _labelled("Category", _choice("f-cat", ch.get("categories", []), multi=True), "180px"),
            _labelled(
                "Call type", _choice("f-type", ch.get("call_types", []), multi=True), "220px"
            ),
            _labelled("Priority", _choice("f-pri", ch.get("priorities", []), multi=True), "140px"),
            _labelled("Zone layer", layer, "180px"),
            _labelled(
                "Standard", dcc.Dropdown(id="f-profile", options=profiles, clearable=False), "140px"
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
