"""What every command module shares: consoles, option types, exit codes, frame printing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_REJECTS",
    "out",
    "err",
    "DataDir",
    "Format",
    "fmt_cell",
    "print_frame",
    "print_warnings",
    "print_people",
    "check_format",
    "AgencyOpt",
    "split_agencies",
    "resolve_agency_option",
    "open_catalog",
    "agency_for",
]

#: Exit codes scripts can rely on.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REJECTS = 0, 1, 2, 3

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="DISPATCH_DATA_DIR",
        help="Data directory (default ./dispatch_data; env DISPATCH_DATA_DIR).",
        show_default=False,
    ),
]
AgencyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--agency",
        help="Agency (repeat, or a comma list, for several taken together; `all` for every "
        "agency together). Default: the store's only agency; a store of several needs one.",
        show_default=False,
    ),
]
Format = Annotated[str, typer.Option("--format", "-f", help="Output format: table, csv or json.")]


def fmt_cell(v) -> str:
    """A value as a table cell: thousands separators, a few significant digits."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_frame(df: pl.DataFrame, fmt: str = "table", title: str | None = None, file=None) -> None:
    """Print a frame as a rich table for people (durations ``*_s`` as m:ss, shares as %,
    counts with separators: :func:`dispatch_analytics.fmt.value`), or as CSV or JSON (one
    object per row, in a list) with the raw values for scripts."""
    fmt = fmt.lower()
    if fmt == "csv":
        text = df.write_csv()
        (file or sys.stdout).write(text)
    elif fmt == "json":
        rows = df.to_dicts()
        (file or sys.stdout).write(json.dumps(rows, default=str, indent=1) + "\n")
    elif fmt == "table":  # for people: m:ss, %, separators (fmt.value); CSV / JSON stay raw
        from ..fmt import value as _value

        table = Table(title=title, show_lines=False, header_style="bold")
        for c, t in df.schema.items():
            table.add_column(c, justify="right" if t.is_numeric() else "left")
        for row in df.iter_rows():
            table.add_row(*[_value(c, v) for c, v in zip(df.columns, row, strict=True)])
        out.print(table)
        if df.height == 0:
            out.print("(no rows)")
    else:
        raise typer.BadParameter(f"`--format` {fmt!r} must be table, csv or json")


def print_warnings(caught) -> None:
    """Print warnings recorded by ``warnings.catch_warnings(record=True)`` to stderr."""
    for w in caught:
        err.print(f"Warning: {w.message}", highlight=False)


def check_format(fmt: str, allowed: tuple[str, ...] = ("table", "csv", "json")) -> str:
    """``fmt`` lower-cased, or a usage error (exit 2) naming the allowed formats."""
    f = fmt.lower()
    if f not in allowed:
        raise typer.BadParameter(f"`--format` {fmt!r} must be {', '.join(allowed)}")
    return f


def print_people(df: pl.DataFrame, title: str | None = None, shares: tuple[str, ...] = ()) -> None:
    """A frame as a rich table for people: durations (``*_s``) as m:ss, shares as %, counts
    with separators (``fmt.value``); ``shares`` names more share columns."""
    from ..fmt import share as _share
    from ..fmt import value as _value

    table = Table(title=title, show_lines=False, header_style="bold")
    for c, t in df.schema.items():
        table.add_column(c, justify="right" if t.is_numeric() else "left")
    for row in df.iter_rows():
        table.add_row(
            *[
                _share(v) if c in shares and isinstance(v, int | float) else _value(c, v)
                for c, v in zip(df.columns, row, strict=True)
            ]
        )
    out.print(table)
    if df.height == 0:
        out.print("(no rows)")


def split_agencies(values: list[str] | None) -> list[str] | None:
    """``--agency`` values (repeated and / or comma lists) as one list; None when not given."""
    names = [a.strip() for v in values or [] for a in v.split(",") if a.strip()]
    return names or None


def resolve_agency_option(con, values: list[str] | None):
    """The agency selection of ``--agency`` and how outputs name it.

    Returns ``(agency, label)``: ``agency`` is a name, a list of names or None (every agency
    together); ``label`` is e.g. ``"SFFD"`` or ``"all agencies (A, B) together"``. An unknown
    agency, or none given for a store of several, raises ``AgencyError`` (exit 1 with its
    message at the edge).
    """
    from ..metrics.agencies import agency_label, resolve_agency

    agency = resolve_agency(con, split_agencies(values))
    return agency, agency_label(agency, con)


def open_catalog(data_dir):
    """A read-only catalog connection for a command: DuckDB's own progress bar off (it would
    leak into the command's output; ours shows on a terminal only)."""
    from ..store import Store

    con = Store(data_dir, create=False).connect(read_only=True)
    con.execute("set enable_progress_bar = false")
    return con


def agency_for(con_or_store, values: list[str] | None):
    """The agency an analysis command works on (``--agency``), said on stderr when the store
    holds several agencies or one was asked for ("Agency: all agencies (A, B) together").

    Returns a name, a list of names or ``"all"`` (every agency together); raises ``AgencyError``
    (exit 1) for an unknown agency or none given for a store of several.
    """
    from ..metrics.agencies import ALL, agency_names

    con = con_or_store
    own = not hasattr(con, "execute")
    if own:  # a Store
        con = con_or_store.connect(read_only=True)
    try:
        chosen, label = resolve_agency_option(con, values)
        if values or len(agency_names(con)) > 1:
            err.print(f"Agency: {label}", highlight=False)
    finally:
        if own:
            con.close()
    return ALL if chosen is None else chosen  # the library takes None as "the only agency"
