"""Commands `queries` and `query`: the analyst SQL library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import QueryError
from .common import (
    AgencyOpt,
    DataDir,
    Format,
    open_catalog,
    out,
    print_frame,
    resolve_agency_option,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["register"]


def queries_cmd(fmt: Format = "table", data_dir: DataDir = None) -> None:
    """List the named analyst queries in queries/ with their parameters (the queries ship
    with the package: ``--data-dir`` is accepted, like on every command, and not needed).

    Example:  dispatch queries --format json
    """
    import polars as pl

    from ..metrics.queries import list_queries

    rows = [
        {
            "name": q.name,
            "description": q.description,
            "params": ", ".join(
                f"{p[0]}={p[2]}" if p[2] not in (None, "") else p[0] for p in q.params
            ),
            "path": str(q.path),
        }
        for q in list_queries()
    ]
    df = pl.DataFrame(rows)
    print_frame(df.drop("path") if fmt == "table" else df, fmt, title="Queries")


def query_cmd(
    name: Annotated[str, typer.Argument(help="Query name (see `dispatch queries`).")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as k=v; repeat for several."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="table, csv, json or parquet (parquet needs --out)."),
    ] = "table",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the result to this file.")
    ] = None,
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Run one named query with parameters, for one agency (or several, or all, together).

    Example:  dispatch query fractile_compliance --agency SFFD -p metric=total_response -p layer=sf_neighborhoods -p target_s=480 -p period=month
    """
    from ..metrics.agency_scope import agency_scope
    from ..metrics.queries import run_query

    params = {}
    for p in param or []:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise typer.BadParameter(f"`--param` {p!r} must look like key=value")
        params[k.strip()] = v
    check_numbers(params, name)
    if agency is None and params.get("agency"):
        agency = [params["agency"]]  # -p agency=X chooses the agency as --agency X does
    con = open_catalog(data_dir)
    try:
        chosen, label = resolve_agency_option(con, agency)
        scoped = agency_scope(con, chosen)
        try:
            df = run_query(scoped, name, params)
        except QueryError as exc:
            raise QueryError(plain_error(str(exc))) from None
    finally:
        con.close()
    _write_frame(df, fmt, out_file, title=f"{name} · {label}")


#: parameters that take a number (a parameter named ``*_s`` is a number of seconds)
_NUMBERS = {"percentile": "a percentile, e.g. 90", "min_n": "a whole number, e.g. 30"}


def check_numbers(params: dict[str, str], query: str = "") -> None:
    """Every ``*_s``, ``percentile`` and ``min_n`` parameter must be a number; the error says
    which and gives an example (before any SQL runs)."""
    problems = []
    for k, v in params.items():
        want = "a number of seconds, e.g. 480" if k.endswith("_s") else _NUMBERS.get(k)
        if want is None or v.strip().lower() in ("", "null", "none"):
            continue
        try:
            float(v)
        except ValueError:
            problems.append(f"parameter `{k}` must be {want}; got {v!r}")
    if problems:
        raise QueryError((f"query {query}: " if query else "") + "; ".join(problems))


def plain_error(message: str) -> str:
    """A query error without DuckDB's SQL excerpt (``LINE 28: ...``): the first line only."""
    head = message.strip().split("\nLINE ", 1)[0].strip()
    return head.replace("Conversion Error: ", "a parameter has the wrong type: ")


def _write_frame(df: pl.DataFrame, fmt: str, out_file: Path | None, title: str) -> None:
    fmt = fmt.lower()
    if fmt == "parquet":
        if out_file is None:
            raise typer.BadParameter("`--format parquet` needs `--out FILE.parquet`")
        df.write_parquet(out_file)
    elif out_file is not None and fmt in ("csv", "table"):
        df.write_csv(out_file)
    elif out_file is not None and fmt == "json":
        with open(out_file, "w", encoding="utf-8") as fh:
            print_frame(df, "json", file=fh)
    else:
        print_frame(df, fmt, title=title)
        return
    out.print(f"wrote {df.height:,} rows to {out_file}")


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("queries")(queries_cmd)
    app.command("query")(query_cmd)
