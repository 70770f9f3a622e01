"""Command `hotspots`: where calls, or late responses, cluster beyond chance (Gi* on H3)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import polars as pl
import typer

from ..store import Store
from .common import DataDir, check_format, err, out, print_frame, print_people

__all__ = ["register"]


# Long: the command's options and their help texts
def hotspots_cmd(
    metric: Annotated[
        str, typer.Option("--metric", help="volume (calls per cell) or late_rate.")
    ] = "volume",
    interval: Annotated[
        str,
        typer.Option("--interval", help="Interval judged late for late_rate (e.g. travel)."),
    ] = "travel",
    target_s: Annotated[
        float | None,
        typer.Option("--target-s", help="Late threshold in seconds (default: the profile's)."),
    ] = None,
    profile: Annotated[
        str, typer.Option("--profile", help="Standards profile for the default target.")
    ] = "nfpa1710",
    resolution: Annotated[int, typer.Option("--resolution", help="H3 resolution (0-15).")] = 8,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    fdr: Annotated[
        bool,
        typer.Option("--fdr/--no-fdr", help="Benjamini-Hochberg false-discovery-rate correction."),
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the permutations.")] = 0,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Permutations (0: normal approximation).")
    ] = 999,
    min_n: Annotated[
        int, typer.Option("--min-n", help="late_rate: fewer calls in a cell = 'too few'.")
    ] = 5,
    rings: Annotated[int, typer.Option("--rings", help="Neighbour rings of the weights.")] = 1,
    study_area: Annotated[
        str | None,
        typer.Option("--study-area", help="Zone layer bounding the study area (default: hull)."),
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First local date (YYYY-MM-DD), inclusive.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last local date (YYYY-MM-DD), inclusive.")
    ] = None,
    call_category: Annotated[
        str | None, typer.Option("--call-category", help="Only these calls (ems, fire, ...).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Emerging hot spots per day, week or month (volume)."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Table: every cell, not only hot and cold ones.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    data_dir: DataDir = None,
) -> None:
    """Getis-Ord Gi* hot and cold spots of call volume or late-response rate on H3 cells,
    with permutation p-values (seeded) and the false-discovery-rate correction.

    Example:  dispatch hotspots --metric late_rate --interval travel --target-s 240 --study-area neighborhoods
    """
    from ..analysis.emerging import EmergingHotspots
    from ..analysis.hotspots import Hotspots

    fmt = check_format(fmt)
    if by is not None and metric != "volume":
        raise typer.BadParameter("`--by` (emerging hot spots) works on `--metric volume` only")
    con = Store(data_dir, create=False).connect(read_only=True)
    common: dict[str, Any] = dict(
        resolution=resolution, alpha=alpha, fdr=fdr, permutations=permutations, seed=seed,
        k=rings, study_area=study_area, start=date_from, end=date_to,
        call_category=call_category,
    )  # fmt: skip
    res: Hotspots | EmergingHotspots
    try:
        with err.status("Gi* permutations ..."):
            if by is not None:
                res = EmergingHotspots.from_store(con, by=by, **common)
            else:
                res = Hotspots.from_store(
                    con, metric=metric, interval=interval, target_s=target_s, profile=profile,
                    min_n=min_n, **common,
                )  # fmt: skip
    finally:
        con.close()
    table = res.table
    if fmt == "json":
        doc: dict[str, Any] = {"metadata": res.metadata, "cells": table.to_dicts()}
        if isinstance(res, EmergingHotspots):
            doc["periods"] = res.periods.to_dicts()
        sys.stdout.write(json.dumps(doc, default=str, indent=1) + "\n")
        return
    if fmt == "csv":
        print_frame(table, "csv")
        return
    c = res.counts
    if by is not None:
        shown = table if show_all else table.filter(table["pattern"] != "no pattern")
        title = f"Emerging hot spots by {by}: {c['n_cells']} cells, {c['n_periods']} periods"
    else:
        shown = table if show_all else table.filter(table["class"].is_in(["hot", "cold"]))
        title = (
            f"Gi* {metric}: {c['n_cells']} cells, {c['n_tested']} tested, "
            f"{c['n_hot']} hot, {c['n_cold']} cold"
        )
    print_people(
        shown.with_columns(
            pl.col("latitude", "longitude").map_elements(
                lambda v: f"{v:.5f}", return_dtype=pl.String
            )
        ),
        title,
    )
    md = res.metadata
    out.print(
        f"weights: {md['weights']}; study area: {md['study_area']}; alpha {md['alpha']:g}"
        f"{' after ' + md['fdr'] + ' FDR' if md['fdr'] else ' (no FDR correction)'}; "
        f"{md['permutations']} permutations, seed {md['seed']}",
        highlight=False,
    )
    for note in md["notes"]:
        out.print(f"note: {note}", highlight=False)
    if not show_all:
        out.print("(--all lists every cell)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("hotspots")(hotspots_cmd)
