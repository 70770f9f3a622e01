"""What the planning commands (:mod:`.coverage`, :mod:`.planning`) share: their option types,
the tables they print for people, JSON output and the coverage they start from."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

import dispatch_analytics.fmt as fmt

from .common import out

if TYPE_CHECKING:
    import polars as pl

    from ..store import Store

if TYPE_CHECKING:
    from ..analysis.coverage import Coverage

__all__ = [
    "TargetOpt",
    "ResolutionOpt",
    "LayerOpt",
    "PriorityOpt",
    "CategoryOpt",
    "QuantileOpt",
    "people_table",
    "summary_rows",
    "print_json",
    "coverage_of",
    "kind_params",
    "BusyOpt",
    "summary_fields",
]

TargetOpt = Annotated[
    float | None,
    typer.Option("--target-s", help="Travel target in seconds (default 240, NFPA 1710)."),
]
ResolutionOpt = Annotated[
    int, typer.Option("--resolution", help="H3 resolution of the cells (9: about 0.1 km²).")
]
LayerOpt = Annotated[
    str | None,
    typer.Option(
        "--layer",
        help="Zone layer whose union is the service area (default: the incidents' extent).",
    ),
]
PriorityOpt = Annotated[
    list[str] | None,
    typer.Option("--priority", help="Only calls of this priority (repeatable), e.g. 3."),
]
CategoryOpt = Annotated[
    list[str] | None,
    typer.Option("--call-category", help="Only calls of this category (repeatable): ems, fire."),
]
BusyOpt = Annotated[
    bool,
    typer.Option(
        "--busy",
        help="Expected coverage (MEXCLP): each station counts only while its units are free, "
        "as often as the agency's history says (its busy share).",
    ),
]
QuantileOpt = Annotated[
    int, typer.Option("--quantile", help="Modelled travel: 50 (median) or 90 (90th pct).")
]


def _cell(column: str, v: Any) -> str:
    if column in ("latitude", "longitude") and isinstance(v, float):
        return f"{v:.6f}"
    return fmt.value(column, v)


def people_table(df: pl.DataFrame, title: str | None = None) -> None:
    """A table for people: durations m:ss, shares %, counts with separators."""
    t = Table(title=title, header_style="bold")
    for c, dtype in df.schema.items():
        t.add_column(fmt.label(c), justify="right" if dtype.is_numeric() else "left")
    for row in df.iter_rows(named=True):
        t.add_row(*[_cell(c, v) for c, v in row.items()])
    out.print(t)
    if df.height == 0:
        out.print("(no rows)")


def summary_rows(summaries: dict[str, dict], fields: tuple[str, ...]) -> pl.DataFrame:
    """One row per measure of ``fields``, one column per summary (formatted for people)."""
    import polars as pl

    cols: dict[str, list] = {"measure": list(fields)}
    for name, s in summaries.items():
        cols[name] = [
            fmt.value(f, s.get(f)) if not f.endswith("_km2") else fmt.number(s.get(f))
            for f in fields
        ]
    return pl.DataFrame(cols)


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout (dates and other values as strings)."""
    sys.stdout.write(json.dumps(obj, indent=1, default=str) + "\n")


def coverage_of(
    store: Store,
    target_s: float | None,
    resolution: int,
    layer: str | None,
    quantile: int,
    busy: bool = False,
    agency: Any = None,
) -> Coverage:
    """The modelled coverage the options ask for (target 240 s unless given; with ``busy``
    the expected coverage from the stations' measured busy shares)."""
    from ..analysis.coverage import Coverage

    return Coverage.from_store(
        store,
        target_s=240.0 if target_s is None else target_s,
        resolution=resolution,
        layer=layer,
        quantile=quantile,
        busy=busy,
        agency=agency,
    )


def summary_fields(summary: dict) -> tuple[str, ...]:
    """The coverage summary fields to show: the plain ones, then the expected coverage of
    ``--busy`` when it was computed."""
    from ..analysis.coverage import SUMMARY_FIELDS

    extra = ("expected_covered_share", "expected_covered_demand")
    return SUMMARY_FIELDS + tuple(k for k in extra if k in summary)


def kind_params(kind: str, params: dict[str, str], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The ``--param`` of an export / map kind: only ``allowed`` names; ``priority`` and
    ``call_category`` as comma-separated lists, the others whole numbers."""
    from ..errors import ExportError

    bad = [k for k in params if k not in allowed]
    if bad:
        raise ExportError(
            f"{kind} takes `--param` {', '.join(allowed) or '(none)'}; not {', '.join(bad)}"
        )
    parsed: dict[str, Any] = {}
    for k, v in params.items():
        if k in ("priority", "call_category"):
            parsed[k] = [x.strip() for x in v.split(",") if x.strip()]
            continue
        try:
            parsed[k] = int(v)
        except ValueError:
            raise ExportError(f"`--param` {k}={v!r} must be a whole number") from None
    return parsed
