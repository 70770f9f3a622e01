"""Commands `ingest`, `profiles` and `profile-template`: getting exports into the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .common import (
    EXIT_REJECTS,
    DataDir,
    Format,
    err,
    out,
    print_frame,
)

if TYPE_CHECKING:
    from ..ingest.results import IngestReport

__all__ = ["register"]


def _file_notes(report: IngestReport) -> None:
    """Per file: how it was read, and what was kept but flagged (stages excluded, unknown
    status codes, unlocated rows)."""
    for f in report.files:
        if f.skipped or f.kind is None:
            continue
        how = f.kind + (f", {f.encoding}" if f.encoding else "")
        how += f", delimiter {f.delimiter!r}" if f.delimiter and f.kind.startswith("csv") else ""
        out.print(
            f"{Path(f.source).name}: read as {how}"
            + (f"; {escape(f.encoding_note)}" if f.encoding_note else "")
        )
        if f.rows_flagged:
            out.print(
                f"  {f.rows_flagged:,} accepted rows have a stage excluded (stage_flags); their "
                "other intervals count"
            )
        if f.unknown_statuses:
            codes = ", ".join(f"{c!r} {n:,}" for c, n in list(f.unknown_statuses.items())[:10])
            out.print(
                f"  {sum(f.unknown_statuses.values()):,} events have a status code the profile's "
                f"statuses table does not map (rejected as unknown_status): {codes}"
            )
        if f.unlocated_by_reason:
            parts = ", ".join(f"{r} {n:,}" for r, n in f.unlocated_by_reason.items())
            out.print(
                f"  {sum(f.unlocated_by_reason.values()):,} accepted rows are unlocated "
                f"(location_flag: {parts}); list them with "
                "`dispatch zones outside --include-unlocated`"
            )


def _ingest_summary(report: IngestReport) -> None:
    from ..ingest.results import REJECT_REASONS

    t = Table(title="Ingest summary" + (" (dry run: nothing written)" if report.dry_run else ""))
    for c in (
        "file",
        "rows read",
        "accepted",
        "rejected",
        "incidents",
        "units",
        "from (UTC)",
        "to (UTC)",
        "batch",
    ):
        t.add_column(
            c,
            justify="right"
            if c in ("rows read", "accepted", "rejected", "incidents", "units")
            else "left",
        )
    for f in report.files:
        if f.skipped:
            t.add_row(
                Path(f.source).name,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                f"skipped: already ingested as {f.skipped_as}",
            )
            continue
        t.add_row(
            Path(f.source).name,
            f"{f.rows_read:,}",
            f"{f.rows_accepted:,}",
            f"{f.rows_rejected:,}",
            f"{f.incidents:,}",
            f"{f.units:,}",
            f"{f.first_received_at:%Y-%m-%d %H:%M}" if f.first_received_at else "",
            f"{f.last_received_at:%Y-%m-%d %H:%M}" if f.last_received_at else "",
            f.batch_id or "",
        )
    out.print(t)
    _file_notes(report)
    reasons = report.rejects_by_reason
    if reasons:
        rt = Table(title="Rejected rows by reason")
        rt.add_column("reason")
        rt.add_column("rows", justify="right")
        rt.add_column("meaning")
        for r, n in reasons.items():
            rt.add_row(r, f"{n:,}", REJECT_REASONS.get(r, ""))
        out.print(rt)
        if not report.dry_run:
            out.print("List them with: dispatch rejects [--reason R] [--out rejects.csv]")
    out.print(
        f"rows read {report.rows_read:,} = accepted {report.rows_accepted:,} "
        f"+ rejected {report.rows_rejected:,}"
    )


# ------------------------------------------------------------------ commands
def ingest_cmd(
    files: Annotated[
        list[str], typer.Argument(help="Files or globs (CSV, .gz, Parquet, JSON lines).")
    ],
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Built-in profile name (see `dispatch profiles`)."),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Mapping TOML file.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count; write nothing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 3 if any row is rejected.")
    ] = False,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows held in memory at once (bounds peak memory).")
    ] = 100_000,
    h3_resolution: Annotated[
        int, typer.Option("--h3-resolution", help="H3 resolution of each incident's cell (0-15).")
    ] = 8,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="A file ingested before with another profile or mapping replaces its "
            "earlier batch(es), in the same atomic step.",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Ingest CAD / 911 export files into the store (one atomic batch per file).

    Every source row is either accepted or rejected with a reason; re-ingesting the same
    file with the same profile adds nothing; with another profile or mapping it is refused
    unless --replace (then its earlier batch is removed as the new one is published).

    Example:  dispatch ingest exports/2024-*.csv.gz --mapping my_cad.toml
    Example:  dispatch ingest calls.csv --mapping fixed.toml --replace
    """
    from ..api import ingest
    from ..ingest.profiles import load_profile

    if profile is not None and mapping is None:
        prof = load_profile(profile)
    elif mapping is not None and profile is None:
        prof = load_profile(mapping)
    else:
        raise typer.BadParameter("give exactly one of `--profile NAME` or `--mapping FILE.toml`")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(Path(name).name, total=total)
            tot = max(total or 0, done)
            bar.update(tasks[name], completed=done, total=tot)

        report = ingest(
            files,
            prof,
            data_dir=data_dir,
            dry_run=dry_run,
            chunk_rows=chunk_rows,
            progress=progress,
            h3_resolution=h3_resolution,
            replace=replace,
        )
    _ingest_summary(report)
    for layer, c in (report.zone_counts or {}).items():
        out.print(
            f"zones {layer!r}: {c['assigned']:,} incidents in a zone, "
            f"{c['outside']:,} outside, {c.get('no_coordinates', 0):,} without coordinates"
        )
    if strict and report.rows_rejected:
        raise typer.Exit(EXIT_REJECTS)


def profiles_cmd(fmt: Format = "table") -> None:
    """List the built-in source profiles.

    Example:  dispatch profiles
    """
    import polars as pl

    from ..ingest.profiles import builtin_profiles, load_profile

    rows = []
    for name, path in sorted(builtin_profiles().items()):
        p = load_profile(name)
        rows.append(
            {
                "name": name,
                "grain": p.grain,
                "timezone": p.timezone,
                "description": p.description,
                "path": str(path),
            }
        )
    df = pl.DataFrame(rows)
    print_frame(df.drop("path") if fmt == "table" else df, fmt, title="Built-in profiles")


def profile_template_cmd(
    file: Annotated[Path, typer.Argument(help="A sample export (CSV, .gz, Parquet, JSON lines).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the TOML here (default: print it).")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="The agency's IANA time zone.")
    ] = None,
) -> None:
    """Write a starter mapping TOML from a file's header, with guessed fields and formats.

    Example:  dispatch profile-template cad_export.csv --timezone America/Denver -o my_cad.toml
    """
    from ..ingest.template import profile_template

    text = profile_template(file, timezone=timezone)
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        out.print(
            f"wrote {out_file}; review every guessed line, then: "
            f"dispatch ingest {file} --mapping {out_file} --dry-run"
        )


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("ingest")(ingest_cmd)
    app.command("profiles")(profiles_cmd)
    app.command("profile-template")(profile_template_cmd)
