"""Command `reliability`: first-due reliability, cross-area responses, call concurrency,
unit-hour utilisation and station busy shares."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import (
    AgencyOpt,
    DataDir,
    agency_for,
    check_format,
    err,
    open_catalog,
    out,
    print_frame,
    print_people,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["register"]

_SHARES = (
    "share_with_concurrent",
    "share_0",
    "share_1",
    "share_2",
    "share_3_plus",
    "share_with_concurrent_in_zone",
    "share_of_area",
)


def _for_people(name: str, t: pl.DataFrame, rel, limit: int) -> tuple[pl.DataFrame, str]:
    """The table as shown to people (pivots and top rows), and its title."""
    import polars as pl

    if name == "cross_area":
        m = rel.cross_area_matrix()
        return m, "Cross-area responses: unit responses by area (rows) and station (columns)"
    if name == "utilization":
        return t.head(limit), f"Unit-hour utilisation, the {min(limit, t.height)} busiest units"
    if name == "utilization_by_hour":
        agg = (
            t.group_by("hour")
            .agg(pl.col("committed_h").sum(), pl.col("window_h").sum(), pl.len().alias("units"))
            .with_columns((pl.col("committed_h") / pl.col("window_h")).alias("uhu"))
            .sort("hour")
        )
        return agg, "Unit-hour utilisation by local hour (all units)"
    if name == "busy_share":
        wide = (
            t.with_columns(
                (
                    pl.col("band_start_hour").cast(pl.String).str.zfill(2)
                    + "-"
                    + pl.col("band_end_hour").cast(pl.String).str.zfill(2)
                ).alias("band")
            )
            .pivot(on="band", index="station_id", values="busy_share")
            .sort("station_id")
        )
        return wide, "Busy share per station and local hour band"
    if name == "concurrency":
        t = t.select([c for c in t.columns if t[c].null_count() < t.height])
    titles = {
        "first_due": "First-due reliability per station area",
        "concurrency": "Call concurrency (other incidents in progress at receipt)",
    }
    return t, titles.get(name, name)


# Long: the command's options and their help texts
def reliability_cmd(
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="Zone layer of first-due station areas (e.g. station_areas)."),
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First local date (YYYY-MM-DD), inclusive.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last local date (YYYY-MM-DD), inclusive.")
    ] = None,
    roster: Annotated[
        Path | None,
        typer.Option("--roster", help="CSV of staffed shifts: unit_id, start, end (optional)."),
    ] = None,
    band_h: Annotated[
        int, typer.Option("--band-h", help="Hours per band of the station busy share.")
    ] = 4,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            help="Only this table: first_due, cross_area, concurrency, utilization, "
            "utilization_by_hour, busy_share.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Table format: units shown.")] = 20,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """How stretched each area, station and unit is: first-due reliability, cross-area
    responses, call concurrency, unit-hour utilisation (committed / window hours) and the
    station busy share by hour band. Dates are local and inclusive.

    Example:  dispatch reliability --layer station_areas --from 2024-01-01 --to 2024-03-31
    """
    from ..analysis.reliability import TABLES, Reliability

    fmt = check_format(fmt)
    if table is not None and table not in TABLES:
        raise typer.BadParameter(f"`--table` {table!r} must be one of {', '.join(TABLES)}")
    if fmt == "csv" and table is None:
        raise typer.BadParameter(
            f"`--format csv` prints one table: add `--table NAME` ({', '.join(TABLES)})"
        )
    con = open_catalog(data_dir)  # DuckDB's progress bar off
    try:
        chosen = agency_for(con, agency)
        with err.status("reliability ..."):
            rel = Reliability.from_store(
                con,
                agency=chosen,
                layer=layer,
                start=date_from,
                end=date_to,
                roster=roster,
                band_h=band_h,
            )
    finally:
        con.close()
    tables = rel.tables()
    if table is not None:
        if table not in tables:
            raise typer.BadParameter(f"`--table {table}` needs `--layer` (a station-area layer)")
        tables = {table: tables[table]}
    if fmt == "csv":
        print_frame(next(iter(tables.values())), "csv")
        return
    if fmt == "json":
        doc = {"metadata": rel.metadata, **{k: v.to_dicts() for k, v in tables.items()}}
        sys.stdout.write(json.dumps(doc, default=str, indent=1) + "\n")
        return
    out.print(f"window: {rel.start} .. {rel.end} (local dates, inclusive)", highlight=False)
    for name, t in tables.items():
        shown, title = _for_people(name, t, rel, limit)
        print_people(
            shown,
            title,
            shares=_SHARES
            + (tuple(c for c in shown.columns if "-" in c) if name == "busy_share" else ()),
        )
    if layer is None and table is None:
        out.print("first-due and cross-area tables need `--layer <station-area layer>`")
    for note in rel.notes:
        out.print(f"note: {note}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("reliability")(reliability_cmd)
