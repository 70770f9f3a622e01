"""Commands `batches list` and `batches remove`: the ingested batches and taking them out."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .common import DataDir, Format, check_format, out, print_frame

if TYPE_CHECKING:
    pass

__all__ = ["register"]

batches_app = typer.Typer(
    help="The ingested batches (one per file): list them, remove some.\n\n"
    "Example:  dispatch batches list && dispatch batches remove 20240115T100000000000-ab12cd34-9f3e --yes",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_COLUMNS = [
    "batch_id",
    "source",
    "profile",
    "profile_sha256",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "incidents",
    "finished_at",
]


@batches_app.command("list")
def list_cmd(fmt: Format = "table", data_dir: DataDir = None) -> None:
    """List the batches in the store (oldest first): file, profile (name and content hash),
    rows read / accepted / rejected, incidents, when it finished.

    Example:  dispatch batches list --format csv
    """
    import polars as pl

    from ..store import Store

    fmt = check_format(fmt)
    store = Store(data_dir, create=False)
    log = store.ingest_log().select(_COLUMNS)
    if fmt == "table":
        log = log.with_columns(pl.col("profile_sha256").str.slice(0, 12))
    print_frame(log, fmt, title=f"Batches ({log.height})")


@batches_app.command("remove")
def remove_cmd(
    batch_ids: Annotated[
        list[str], typer.Argument(help="Batch ids (see `dispatch batches list`).")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    h3_resolution: Annotated[
        int, typer.Option("--h3-resolution", help="H3 resolution of the re-assigned cells.")
    ] = 8,
    data_dir: DataDir = None,
) -> None:
    """Remove batches, atomically: their rows and rejects leave every view at once, the
    derived incidents table and the zone / H3 assignments follow. Asks first unless --yes.

    Example:  dispatch batches remove 20240115T100000000000-ab12cd34-9f3e --yes
    """
    from ..api import remove_batches
    from ..store import Store
    from ..store.removal import check_batch_ids

    store = Store(data_dir, create=False)
    log = check_batch_ids(store, batch_ids)
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter(
                "`dispatch batches remove` asks before removing; pass `--yes` when not at a terminal"
            )
        print_frame(log.select(_COLUMNS[:7]), "table", title="To remove")
        typer.confirm(f"Remove {log.height} batch(es)?", abort=True)
    report = remove_batches(batch_ids, data_dir=store.root, h3_resolution=h3_resolution)
    out.print(
        f"removed {len(report.batch_ids)} batch(es): {report.rows_accepted:,} accepted and "
        f"{report.rows_rejected:,} rejected rows, {report.incidents:,} incidents "
        f"(record {report.record})"
    )


def register(app: typer.Typer) -> None:
    """Add the ``batches`` group to ``app``."""
    app.add_typer(batches_app, name="batches")
