"""Command `impact`: before / after of one response interval, with honest uncertainty."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .common import (
    AgencyOpt,
    DataDir,
    agency_for,
    check_format,
    err,
    open_catalog,
    out,
    print_people,
)

__all__ = ["register"]


# Long: the command's options and their help texts
def impact_cmd(
    before: Annotated[
        str, typer.Option("--before", help="Before period START..END (local dates, inclusive).")
    ],
    after: Annotated[
        str, typer.Option("--after", help="After period START..END (local dates, inclusive).")
    ],
    metric: Annotated[
        str, typer.Option("--metric", help="Incident interval, e.g. total_response, travel.")
    ] = "total_response",
    layer: Annotated[str | None, typer.Option("--layer", help="Zone layer of --zone.")] = None,
    zone: Annotated[str | None, typer.Option("--zone", help="Only incidents in this zone.")] = None,
    call_category: Annotated[
        str | None, typer.Option("--call-category", help="Only these calls (ems, fire, ...).")
    ] = None,
    target_s: Annotated[
        float | None,
        typer.Option("--target-s", help="Compliance target (default: the profile's; 480 s total)."),
    ] = None,
    profile: Annotated[
        str, typer.Option("--profile", help="Standards profile for the default target.")
    ] = "nfpa1710",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples.")] = 2000,
    mix_by: Annotated[
        str, typer.Option("--mix-by", help="Call mix by call_category or call_type.")
    ] = "call_category",
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Before / after of one interval: n, p50, p90 (nearest-rank, 95% CI), compliance; the p90
    difference with a bootstrap CI and a Mann-Whitney p-value; volume and call-mix change, with a
    warning when the mix may explain the difference. Periods must not overlap.

    Example:  dispatch impact --before 2024-01-01..2024-03-31 --after 2024-05-01..2024-07-31 --layer station_areas --zone S07
    """
    from ..analysis.impact import Impact

    fmt = check_format(fmt, ("table", "json"))
    con = open_catalog(data_dir)  # DuckDB's progress bar off
    try:
        chosen = agency_for(con, agency)
        with err.status("bootstrap ..."):
            imp = Impact.from_store(
                con,
                agency=chosen,
                before=before,
                after=after,
                metric=metric,
                layer=layer,
                zone=zone,
                call_category=call_category,
                target_s=target_s,
                profile=profile,
                n_boot=n_boot,
                seed=seed,
                mix_by=mix_by,
            )
    finally:
        con.close()
    if fmt == "json":
        sys.stdout.write(json.dumps(imp.to_dict(), default=str, indent=1) + "\n")
        return
    d = imp.difference
    scope = f" in {layer} {zone}" if zone else ""
    tgt = f", target {imp.target_s:g} s" if imp.target_s else ""
    print_people(imp.summary(), f"{metric}{scope}{tgt} (CI: 95%; difference: bootstrap)")
    mw = d["mannwhitney_p"]
    vol = d["volume_change"]
    out.print(
        f"Mann-Whitney U p = {mw:.3g}" if mw is not None else "Mann-Whitney U: not computed",
        highlight=False,
    )
    if vol is not None:
        out.print(f"calls per day changed by {vol:+.1%}", highlight=False)
    print_people(
        imp.mix,
        f"Call mix ({imp.mix_by}) among the measured calls",
        shares=("change", "share_before", "share_after"),
    )
    if d["p90_diff_reweighted_s"] is not None:
        out.print(
            f"after p90 at the before period's mix: {d['p90_after_reweighted_s']:g} s "
            f"(difference {d['p90_diff_reweighted_s']:+g} s); mix shift {d['mix_tvd']:.1%}",
            highlight=False,
        )
    for w in imp.warnings:
        err.print(f"Warning: {w}", highlight=False)
    for n in imp.notes:
        out.print(f"note: {n}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("impact")(impact_cmd)
