"""Command `report`: the compliance table agencies publish."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import (
    AgencyOpt,
    DataDir,
    open_catalog,
    out,
    resolve_agency_option,
)

__all__ = ["register"]


# Long: most of it is the typer option declarations of the command
def report_cmd(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Standards profile: nfpa1710, nfpa1225, nfpa1720, cfai, or a TOML path "
            '(default: the agency\'s [agencies."NAME"] standards in --config, else nfpa1710).',
        ),
    ] = None,
    layer: Annotated[
        str | None, typer.Option("--layer", help="Group by the zones of this layer.")
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="Group by day, week, month, quarter or year.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML of local target overrides ([targets], [scope]) and each agency's "
            'profile ([agencies."NAME"] standards = "...").',
        ),
    ] = None,
    station_layer: Annotated[
        str | None,
        typer.Option("--station-layer", help="Station-area layer (for first-due metrics)."),
    ] = None,
    density_layer: Annotated[
        str | None,
        typer.Option("--density-layer", help="Demand-zone layer with density classes (NFPA 1720)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, csv, json or xlsx (xlsx needs --out).")
    ] = "table",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to this file.")
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also print the method, CIs, exclusions, quality."),
    ] = False,
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Print the compliance report agencies publish: one line per interval (target, 90th
    percentile, compliance, met / not met / too few calls, n, the calls counted) and a short
    footer; --verbose adds the method, CIs and data quality; CSV / JSON / XLSX hold it all.

    Example:  dispatch report --agency SFFD --profile nfpa1710 --layer sf_neighborhoods --period month --format xlsx -o report.xlsx
    """
    from ..metrics.agencies import ALL
    from ..metrics.report import compliance_report

    con = open_catalog(data_dir)
    try:
        chosen, _label = resolve_agency_option(con, agency)  # the CLI's words for an error
        rep = compliance_report(
            con,
            agency=ALL if chosen is None else chosen,
            profile=profile,
            layer=layer,
            period=period,
            overrides=config,
            station_layer=station_layer,
            density_layer=density_layer,
        )
    finally:
        con.close()
    fmt = fmt.lower()
    if fmt == "xlsx":
        if out_file is None:
            raise typer.BadParameter("`--format xlsx` needs `--out FILE.xlsx`")
        rep.to_xlsx(out_file)
        out.print(f"wrote {out_file}")
    elif fmt == "csv":
        csv_text = rep.to_csv(out_file)
        if csv_text is not None:  # the text comes back when no file was written
            sys.stdout.write(csv_text)
    elif fmt == "json":
        json_text = rep.to_json(out_file)
        if json_text is not None:  # the text comes back when no file was written
            sys.stdout.write(json_text + "\n")
    elif fmt == "table":
        text = rep.to_text(verbose=verbose)
        if out_file is not None:
            Path(out_file).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text + "\n")
    else:
        raise typer.BadParameter(f"`--format` {fmt!r} must be table, csv, json or xlsx")


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("report")(report_cmd)
