"""Command `compact`: rewrite the many small batch folders of a live feed into a few
time-partitioned files (``dispatch_analytics.store.compact``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..fmt import count as fmt_count
from .common import DataDir, Format, check_format, err, out, split_agencies

if TYPE_CHECKING:
    from ..store.compact import CompactReport

__all__ = ["register", "summary_lines"]


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def summary_lines(r: CompactReport) -> list[str]:
    """The lines people read after a compaction (or a dry run)."""
    derived = []
    if r.derived_parts > 1:
        derived = [
            f"derived incidents table: {fmt_count(r.derived_parts)} parts "
            + ("would be folded into one" if r.dry_run else "folded into one")
        ]
    if r.nothing_to_do:
        return [
            f"nothing to compact ({fmt_count(r.folders_before)} folders, "
            f"{fmt_count(r.files_before)} files, {_size(r.bytes_before)}; "
            f"{r.seconds:.2f} s)"
        ] + derived
    verb = "would compact" if r.dry_run else "compacted"
    lines = [
        f"{verb} {fmt_count(len(r.batches))} batches into {fmt_count(len(r.files_written))} "
        f"files (merging {fmt_count(r.merged)} compacted files)"
        + ("" if r.dry_run else f" as {r.run}")
    ]
    if r.dry_run:
        lines.append(
            f"now {fmt_count(r.folders_before)} folders, {fmt_count(r.files_before)} files, "
            f"{_size(r.bytes_before)}; nothing written (dry run)"
        )
        lines += [f"  {name}" for name in r.files_written]
        return lines + derived
    lines.append(
        f"folders {fmt_count(r.folders_before)} -> {fmt_count(r.folders_after)}, files "
        f"{fmt_count(r.files_before)} -> {fmt_count(r.files_after)}, bytes "
        f"{_size(r.bytes_before)} -> {_size(r.bytes_after)}, in {r.seconds:.2f} s"
    )
    if r.waiting:
        lines.append(
            f"{fmt_count(r.waiting)} replaced folders / files stay hidden until the grace "
            "period ends (for readers still scanning them); the next writer deletes them"
        )
    return lines + derived


def compact_cmd(
    agency: Annotated[
        list[str] | None,
        typer.Option(
            "--agency",
            help="Compact only batches of these agencies (repeat or a comma list); default `all`.",
            show_default=False,
        ),
    ] = None,
    min_batches: Annotated[
        int,
        typer.Option("--min-batches", help="Do nothing unless this many batch folders wait."),
    ] = 2,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be done; write nothing.")
    ] = False,
    grace_s: Annotated[
        float | None,
        typer.Option(
            "--grace-s",
            help="Seconds replaced files stay for readers still scanning them (default 600, "
            "or $DISPATCH_COMPACT_GRACE_S).",
            show_default=False,
        ),
    ] = None,
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Rewrite small batch folders (one per `dispatch watch` poll) into one file per agency
    and month, atomically: counts, lineage (batch_id, source, source_row) and every query
    result stay the same; readers are never blocked. Run it nightly beside `dispatch watch`.

    Example:  dispatch compact --dry-run && dispatch compact
    """
    from ..api import finish_interrupted
    from ..store import Store
    from ..store.compact import compact, grace_seconds
    from ..store.crash import crash_point

    fmt = check_format(fmt, ("table", "json"))
    if min_batches < 1:
        raise typer.BadParameter(f"`--min-batches` must be >= 1, got {min_batches}")
    names = split_agencies(agency)
    agencies = None if names is None or [n.lower() for n in names] == ["all"] else names
    grace = grace_seconds(grace_s)
    store = Store(data_dir, create=False)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("compacting", total=3)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        if dry_run:
            report = compact(store, agencies, min_batches, True, grace, progress)
        else:
            with store.write_lock():
                crash_point("compact.locked")
                finish_interrupted(store)
                report = compact(store, agencies, min_batches, False, grace, progress)
    if fmt == "json":
        d = {k: v for k, v in report.__dict__.items()}
        d["nothing_to_do"] = report.nothing_to_do
        out.print_json(json.dumps(d))
        return
    for line in summary_lines(report):
        out.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``compact`` to ``app``."""
    app.command("compact")(compact_cmd)
