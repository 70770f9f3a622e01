"""Commands `queries` and `query`: the analyst SQL library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from ..store import Store
from .common import (
    DataDir,
    Format,
    out,
    print_frame,
)

__all__ = ["register"]


def queries_cmd(fmt: Format = "table") -> None:
    """List the named analyst queries in queries/ with their parameters.

    Example:  dispatch queries
    """
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
    data_dir: DataDir = None,
) -> None:
    """Run one named query with parameters.

    Example:  dispatch query fractile_compliance -p metric=total_response -p layer=neighborhoods -p target_s=480 -p period=month
    """
    from ..metrics.queries import run_query

    params = {}
    for p in param or []:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise typer.BadParameter(f"`--param` {p!r} must look like key=value")
        params[k.strip()] = v
    store = Store(data_dir, create=False)
    con = store.connect(read_only=True)
    try:
        df = run_query(con, name, params)
    finally:
        con.close()
    _write_frame(df, fmt, out_file, title=name)


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
