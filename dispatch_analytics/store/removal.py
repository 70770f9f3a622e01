"""Removing batches: `dispatch batches remove` and `dispatch ingest --replace`.

A removal is itself published by one rename: a folder in ``lake/batches/`` holding
``removes.parquet`` (the removed batch ids and their incidents; the replacing batch's own
folder for ``--replace``). Every view hides the batches it lists from the moment the folder
appears; the ``incidents`` view recomputes the removed batches' incidents live from their
remaining rows (or drops them) until the derived table is refreshed. The removed folders are
then deleted (:func:`purge_removed`, run again by the next writer if this one is killed).

A removal record also lists every removal the removed batches themselves made (a batch
that replaced another), so deleting their folders forgets nothing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ..errors import StoreError
from .crash import crash_point
from .store import REMOVE_SCHEMA

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "RemovalReport",
    "check_batch_ids",
    "removal_frame",
    "write_removal",
    "publish_removal",
    "purge_removed",
]


@dataclass
class RemovalReport:
    """What a removal took away.

    Attributes
    ----------
    batch_ids : list of str
    rows_accepted, rows_rejected, incidents : int
        The removed batches' totals, from the ingest log.
    record : str
        The batch folder holding the removal record.
    """

    batch_ids: list[str]
    rows_accepted: int
    rows_rejected: int
    incidents: int
    record: str


def check_batch_ids(store: Store, batch_ids: list[str]) -> pl.DataFrame:
    """The ingest-log rows of ``batch_ids``; :class:`StoreError` naming every unknown id."""
    if not batch_ids:
        raise StoreError(
            "name at least one `BATCH_ID` to remove; list them with `dispatch batches list`"
        )
    log = store.ingest_log()
    known = set(log["batch_id"].to_list())
    unknown = [b for b in dict.fromkeys(batch_ids) if b not in known]
    if unknown:
        removed = store.removed_batches()
        problems = [
            f"`{b}` was removed already" if b in removed else f"`{b}` is not a batch of this store"
            for b in unknown
        ]
        raise StoreError(
            "cannot remove: "
            + "; ".join(problems)
            + " (list the batches with `dispatch batches list`)"
        )
    return log.filter(pl.col("batch_id").is_in(list(dict.fromkeys(batch_ids))))


def removal_frame(store: Store, batch_ids: list[str]) -> pl.DataFrame:
    """The ``removes.parquet`` rows removing ``batch_ids``: each batch's incidents (with the
    agency the views give them), one row per batch, and the removals they made."""
    ids = list(dict.fromkeys(batch_ids))
    frames = [
        pl.DataFrame({"batch_id": ids}, schema={"batch_id": pl.String}).with_columns(
            pl.lit(None, pl.String).alias("agency"), pl.lit(None, pl.String).alias("incident_id")
        )
    ]
    resp = store.scan_rows("responses", set(ids))  # batch folders or compacted files
    if resp is not None:
        frames.append(
            resp.select(
                "batch_id",
                pl.coalesce("agency", "profile").alias("agency"),
                "incident_id",
            )
            .unique()
            .collect()
        )
    own = store.files("removes", set(ids))
    if own:
        frames.append(
            pl.scan_parquet(
                own, schema=REMOVE_SCHEMA, missing_columns="insert", glob=False
            ).collect()
        )
    return pl.concat(
        [f.select(list(REMOVE_SCHEMA)).cast(pl.Schema(REMOVE_SCHEMA)) for f in frames]
    ).unique(maintain_order=True)


def write_removal(store: Store, batch_ids: list[str], folder: Path) -> None:
    """Write the record removing ``batch_ids`` into a staged batch ``folder``."""
    removal_frame(store, batch_ids).write_parquet(folder / "removes.parquet")


def publish_removal(store: Store, batch_ids: list[str]) -> RemovalReport:
    """Remove ``batch_ids`` in one rename, then delete their folders (under the writer lock).

    Raises
    ------
    StoreError
        An id is unknown or removed already (every such id is named).
    """
    log = check_batch_ids(store, batch_ids)
    stamp = datetime.now(UTC)
    name = f"{stamp:%Y%m%dT%H%M%S%f}-removal-{uuid.uuid4().hex[:4]}"
    stage = store.tmp_dir / name
    stage.mkdir(parents=True)
    write_removal(store, list(log["batch_id"]), stage)
    crash_point("remove.record_written")
    store.publish(stage)
    crash_point("remove.published")
    purge_removed(store)
    return RemovalReport(
        batch_ids=list(log["batch_id"]),
        rows_accepted=int(log["rows_accepted"].sum()),
        rows_rejected=int(log["rows_rejected"].sum()),
        incidents=int(log["incidents"].sum()),
        record=name,
    )


def purge_removed(store: Store) -> list[str]:
    """Delete the folders of removed batches (under the writer lock; idempotent).

    Each folder is first renamed into ``lake/_tmp`` (one step, so a half-deleted folder is
    never in ``lake/batches``), then deleted. Compacted files holding rows of removed batches
    are rewritten without them, and files replaced by compaction longer ago than the grace
    period deleted (:mod:`.compact`). Returns the purged batch ids.
    """
    gone = []
    for batch in sorted(store.removed_batches()):
        folder = store.batches_dir / batch
        if not folder.is_dir():
            continue
        trash = store.tmp_dir / f"purge-{batch}-{os.getpid()}"
        os.rename(folder, trash)
        crash_point("purge.renamed")
        shutil.rmtree(trash, ignore_errors=True)
        gone.append(batch)
    if gone:
        crash_point("purge.done")
    # rows of removed batches inside compacted files: rewritten without them (.compact)
    from .compact import drop_removed, purge_superseded

    drop_removed(store)
    purge_superseded(store)
    return gone
