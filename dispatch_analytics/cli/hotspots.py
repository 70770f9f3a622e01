"""Command `hotspots`: where calls, or late responses, cluster beyond chance (Gi* on H3)."""

from __future__ import annotations

import json
import sys
import warnings
from typing import TYPE_CHECKING, Annotated, Any

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
from .export import ExportKind, KindOptions, register_kind

if TYPE_CHECKING:
    from ..store import Store

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
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Getis-Ord Gi* hot and cold spots of call volume or late-response rate on H3 cells,
    with permutation p-values (seeded) and the false-discovery-rate correction.

    Example:  dispatch hotspots --metric late_rate --interval travel --target-s 240 --study-area neighborhoods
    """
    import polars as pl

    from ..analysis.emerging import EmergingHotspots
    from ..analysis.hotspots import Hotspots

    fmt = check_format(fmt)
    if by is not None and metric != "volume":
        raise typer.BadParameter("`--by` (emerging hot spots) works on `--metric volume` only")
    con = open_catalog(data_dir)  # DuckDB's progress bar off
    chosen = agency_for(con, agency)
    common: dict[str, Any] = dict(
        resolution=resolution,
        alpha=alpha,
        fdr=fdr,
        permutations=permutations,
        seed=seed,
        k=rings,
        study_area=study_area,
        start=date_from,
        end=date_to,
        call_category=call_category,
        agency=chosen,
    )
    res: Hotspots | EmergingHotspots
    try:
        with err.status("Gi* permutations ..."):
            if by is not None:
                res = EmergingHotspots.from_store(con, by=by, **common)
            else:
                res = Hotspots.from_store(
                    con,
                    metric=metric,
                    interval=interval,
                    target_s=target_s,
                    profile=profile,
                    min_n=min_n,
                    **common,
                )
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


# ============================================================ `dispatch export / map hotspots`
def _hotspots_kind(store: Store, o: KindOptions):
    """The hotspots layer for `dispatch export hotspots` / `dispatch map hotspots`."""
    from ..analysis.emerging import EmergingHotspots
    from ..analysis.hotspots import Hotspots
    from ..analysis.hotspots_export import hotspots_layer
    from ..errors import ExportError

    with warnings.catch_warnings():  # import-time deprecation noise of PySAL's dependencies
        warnings.simplefilter("ignore")
        import esda.getisord  # noqa: F401
        import libpysal.weights  # noqa: F401
    p = dict(o.params)
    known = {
        "measure",
        "resolution",
        "alpha",
        "fdr",
        "permutations",
        "seed",
        "min_n",
        "rings",
        "by",
        "call_category",
    }
    bad = sorted(set(p) - known)
    if bad:
        raise ExportError(
            f"hotspots: unknown `--param` {', '.join(bad)}; valid: {', '.join(sorted(known))}"
        )
    try:
        num = {
            k: int(p[k]) for k in ("resolution", "permutations", "seed", "min_n", "rings") if k in p
        }
        alpha = float(p.get("alpha", 0.05))
    except ValueError as exc:
        raise ExportError(f"hotspots: a `--param` is not a number ({exc})") from None
    common: dict[str, Any] = dict(
        resolution=num.get("resolution", 8),
        alpha=alpha,
        fdr=p.get("fdr", "true").lower() not in ("false", "no", "0"),
        permutations=num.get("permutations", 999),
        seed=num.get("seed", 0),
        k=num.get("rings", 1),
        study_area=o.layer,
        start=o.date_from,
        end=o.date_to,
        call_category=p.get("call_category"),
        agency=o.agency,
    )
    con = store.connect(read_only=True)
    try:
        res: Hotspots | EmergingHotspots
        if "by" in p:
            res = EmergingHotspots.from_store(con, by=p["by"], **common)
        else:
            measure = p.get("measure", "volume")
            interval = o.metric if measure == "late_rate" else "travel"
            res = Hotspots.from_store(
                con,
                metric=measure,
                interval=interval,
                target_s=o.target_s,
                profile=o.profile,
                min_n=num.get("min_n", 5),
                **common,
            )
    finally:
        con.close()
    for note in res.notes:
        warnings.warn(note, stacklevel=2)
    return hotspots_layer(res)


register_kind(
    ExportKind(
        name="hotspots",
        help="Getis-Ord Gi* hot and cold spots on H3 cells (hexagons, EPSG:4326): call volume, "
        "or with `-p measure=late_rate` the late rate of `--metric` (an interval) over "
        "`--target-s`; `-p by=month` for emerging hot spots. `--layer` bounds the study area. "
        "Other `-p`: resolution, alpha, fdr, permutations, seed, min_n, rings, call_category.",
        example="--layer neighborhoods -p seed=0",
        build=_hotspots_kind,
        by={"class": "class", "z": "z", "n": "n", "p_fdr": "p_fdr", "pattern": "pattern"},
        default_by="class",
    )
)
