"""The units & stations page: turnout by unit, unit workload, first-due reliability."""

from __future__ import annotations

import polars as pl
from dash import dcc, html

from .. import figures, stats
from ..components import CARD, ROW, data_table, table_props
from ..data import DataSource
from ..filters import Filters

__all__ = ["layout", "units_view"]


def layout() -> html.Div:
    """The units page's structure (figures and the table are filled by a callback)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Div(dcc.Graph(id="units-turnout"), style=CARD),
                    html.Div(dcc.Graph(id="units-workload"), style=CARD),
                ],
                style=ROW,
            ),
            html.Div(
                [
                    html.H4("First-due reliability", style={"margin": "4px"}),
                    html.Div(id="first-due-note"),
                    data_table("first-due-table"),
                ],
                style=CARD,
            ),
        ]
    )


def units_view(ds: DataSource, f: Filters, targets):
    """(turnout figure, workload figure, first-due data, first-due columns, note)."""
    snap = ds.snapshot()
    target_s, pct = targets.get("turnout", (None, 90.0))
    tu = stats.unit_turnout(snap, f, target_s, pct)
    turn = figures.bar_figure(
        tu.sort("p_s"),
        "unit_id",
        "p_s",
        f"Turnout p{pct:g} by unit (s); target {stats.target_label(target_s)}",
        stats.single_target(target_s),
        horizontal=True,
    )
    wl = stats.unit_workload(snap, f)
    work = figures.bar_figure(
        wl.sort("committed_h"),
        "unit_id",
        "committed_h",
        "Unit workload (hours committed)",
        None,
        horizontal=True,
    )
    if f.layer and f.layer in snap.layers:
        fd = stats.first_due_reliability(snap, f, f.layer)
        note = (
            f"Layer '{f.layer}' read as station areas: the share of each area's incidents "
            "whose first-arriving unit belongs to that station."
        )
    else:
        fd, note = pl.DataFrame(), "Choose a station-area zone layer in the filters."
    data, cols = table_props(fd)
    return turn, work, data, cols, note
