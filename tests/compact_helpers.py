"""Small stores written straight into the lake (no ingest): many tiny batch folders, fast."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from dispatch_analytics import Store
from dispatch_analytics.schema.tables import LOG_SCHEMA, REJECT_SCHEMA, RESPONSE_SCHEMA

AGENCIES = ("Alpha FD", "Beta EMS")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def batch_frames(batch: str, rows: int, rng: random.Random, rejects: int = 0):
    """(responses, rejects, ingest log) of one synthetic batch."""
    agency = rng.choice(AGENCIES)
    recv = [T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 120)) for _ in range(rows)]
    resp = pl.DataFrame(
        {
            "agency": [agency] * rows,
            "incident_id": [f"I{rng.randrange(0, 400)}" for _ in range(rows)],
            "unit_id": [f"U{rng.randrange(0, 9)}" for _ in range(rows)],
            "call_received_at": recv,
            "dispatched_at": [t + timedelta(seconds=rng.randrange(20, 200)) for t in recv],
            "on_scene_at": [t + timedelta(seconds=rng.randrange(200, 900)) for t in recv],
            "stages_recorded": [3] * rows,
            "last_stage_at": [t + timedelta(seconds=900) for t in recv],
            "profile": ["synthetic"] * rows,
            "grain": ["unit"] * rows,
            "source": [f"{batch}.csv"] * rows,
            "source_row": list(range(1, rows + 1)),
            "batch_id": [batch] * rows,
            "row_hash": [rng.getrandbits(63) for _ in range(rows)],
        }
    )
    resp = resp.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in RESPONSE_SCHEMA.items() if c not in resp.columns]
    ).select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()])
    rej = pl.DataFrame(
        {
            "source": [f"{batch}.csv"] * rejects,
            "source_row": list(range(rows + 1, rows + rejects + 1)),
            "reason": ["duplicate_row"] * rejects,
            "agency": [agency] * rejects,
            "profile": ["synthetic"] * rejects,
            "batch_id": [batch] * rejects,
            "row_hash": [rng.getrandbits(63) for _ in range(rejects)],
        }
    )
    rej = rej.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in REJECT_SCHEMA.items() if c not in rej.columns]
    ).select([pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()])
    now = datetime(2026, 1, 1, tzinfo=UTC)  # the same in every copy
    log = pl.DataFrame(
        [
            {
                "batch_id": batch,
                "source": f"{batch}.csv",
                "file_sha256": batch,
                "file_bytes": 0,
                "profile": "synthetic",
                "grain": "unit",
                "timezone": "UTC",
                "started_at": now,
                "finished_at": now,
                "rows_read": rows + rejects,
                "rows_accepted": rows,
                "rows_rejected": rejects,
                "incidents": resp["incident_id"].n_unique(),
                "units": resp["unit_id"].n_unique(),
                "first_received_at": min(recv) if recv else None,
                "last_received_at": max(recv) if recv else None,
                "tool_version": "test",
            }
        ],
        schema=LOG_SCHEMA,
    )
    return resp, rej, log


def write_batch(store: Store, batch: str, rows: int, rng: random.Random, rejects: int = 0):
    """Publish one synthetic batch folder (one rename, as an ingest does)."""
    resp, rej, log = batch_frames(batch, rows, rng, rejects)
    stage = store.tmp_dir / batch
    stage.mkdir(parents=True)
    if resp.height:
        resp.write_parquet(stage / "responses-00000.parquet")
    if rej.height:
        rej.write_parquet(stage / "rejects-00000.parquet")
    log.write_parquet(stage / "ingest_log.parquet")
    os.rename(stage, store.batches_dir / batch)
    return resp, rej, log


def batch_name(i: int) -> str:
    """Batch ids like ingest's: a UTC stamp first (here a made-up one, in order)."""
    t = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i // 50, seconds=i)
    return f"{t:%Y%m%dT%H%M%S%f}-{i:08x}-test"


def write_batches(root: Path, n_batches: int, rows: int, seed: int, start: int = 0) -> Store:
    """``n_batches`` synthetic batches of about ``rows`` rows each (a few rejects)."""
    store = Store(root)
    rng = random.Random(seed)
    for i in range(start, start + n_batches):
        write_batch(store, batch_name(i), rows, rng, rejects=i % 3)
    return store
