"""Command group `units`: each unit's home station and type (used by the travel model)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import DataDir, Format, out, print_frame

if TYPE_CHECKING:
    pass

__all__ = ["register"]

units_app = typer.Typer(
    help="Units and their home stations (where the travel model starts each unit).\n\n"
    "Example:  dispatch units derive --regex '^[ET](\\d+)$' --zero-pad 2",
    no_args_is_help=True,
)


@units_app.command("load")
def units_load_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV, TSV, Parquet or Excel with unit_id, station_id, unit_type [, staffing]."
        ),
    ],
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="Excel sheet (default: the first).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Load (replace) the unit list: each unit's home station, type and staffing.

    Example:  dispatch units load units.xlsx
    """
    from ..spatial.units import load_units
    from ..store import Store

    store = Store(data_dir)
    out.print(load_units(store.root, file, sheet=sheet).summary(), highlight=False)


@units_app.command("derive")
def units_derive_cmd(
    regex: Annotated[
        str | None,
        typer.Option(
            "--regex",
            help="Regex over each unit id; its first group is the home station, "
            "e.g. '(\\d+)$' turns E05 into 05.",
        ),
    ] = None,
    zero_pad: Annotated[
        int | None,
        typer.Option("--zero-pad", help="Zero-pad all-digit stations to this width (5 -> 05)."),
    ] = None,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Text before the station (S + 01 -> S01).")
    ] = "",
    from_responses: Annotated[
        bool,
        typer.Option(
            "--from-responses",
            help="Instead of --regex: the unit's most frequent responses.station_id (only "
            "where station_id is the unit's home station).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    r"""Derive (replace) the units from the unit ids seen in `responses`, by a rule.

    Units the rule cannot place are listed and not stored; units whose station is not loaded
    are listed (never guessed).

    Example:  dispatch units derive --regex '^[ET](\d+)$' --zero-pad 2
    """
    from ..spatial.units import derive_units
    from ..store import Store

    store = Store(data_dir, create=False)
    rep = derive_units(
        store.root, regex=regex, zero_pad=zero_pad, prefix=prefix, from_responses=from_responses
    )
    out.print(rep.summary(), highlight=False)


@units_app.command("list")
def units_list_cmd(data_dir: DataDir = None, fmt: Format = "table") -> None:
    """List the stored units with their home station and whether that station is loaded.

    Example:  dispatch units list --format csv
    """
    from ..store import Store

    store = Store(data_dir, create=False)
    df = store.sql(
        "select u.unit_id, u.station_id, u.unit_type, u.staffing, "
        "s.station_id is not null as station_loaded from units u "
        "left join stations s using (station_id) order by u.unit_id"
    )
    print_frame(df, fmt, title=f"Units ({df.height:,})")
    if fmt == "table" and df.height == 0:
        out.print("load them with: dispatch units load FILE, or dispatch units derive --regex R")


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.add_typer(units_app, name="units")
