"""Compaction benchmark: `make bench` prints a table; nothing here is asserted.

A store of ``--batches`` (default 2,000) small batch folders of ``--rows`` (default 300) unit
rows each, as a live feed leaves them (each batch a consecutive slice of a year of synthetic
calls, ``bench/synth.py``), written straight into the lake. Measured before and after
``dispatch compact`` in the same run, through the real command line (a fresh process each,
median of ``--repeat``):

- ``dispatch query fractile_compliance`` (p90 of total response by month);
- ``dispatch status``;
- ``dispatch ingest`` of one more 300-row batch (into a copy of the store);
- ``dispatch batches remove`` of one batch (into a copy of the store);
- ``dispatch compact`` itself.

The ratios after / before are printed: below 1 is faster after compaction.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synth import MAPPING, _arrays, make_csv, response_frame  # noqa: E402

from dispatch_analytics.schema.tables import LOG_SCHEMA, RESPONSE_SCHEMA  # noqa: E402
from dispatch_analytics.store import Store  # noqa: E402

DISPATCH = [sys.executable, "-m", "dispatch_analytics.cli"]


def make_batches(root: Path, n_batches: int, rows: int, seed: int = 0) -> Store:
    """``n_batches`` batch folders of ``rows`` rows, each a consecutive slice of a year."""
    store = Store(root)
    n = n_batches * rows
    a = _arrays(n, seed)
    order = np.argsort(a["rcvd"])
    a = {k: v[order] for k, v in a.items()}
    full = response_frame(a, 0, agency="Synthetic FD")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for k in range(n_batches):
        stamp = t0 + timedelta(seconds=30 * k)
        batch = f"{stamp:%Y%m%dT%H%M%S%f}-{k:08x}-bnch"
        stage = store.tmp_dir / batch
        stage.mkdir(parents=True)
        part = full.slice(k * rows, rows).with_columns(
            pl.lit(batch).alias("batch_id"),
            pl.lit(f"feed_{k}.parquet").alias("source"),
            pl.int_range(1, rows + 1).cast(pl.Int64).alias("source_row"),
        )
        part.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()]).write_parquet(
            stage / "responses-00000.parquet", compression="lz4"
        )
        log = {
            "batch_id": batch,
            "source": f"feed_{k}.parquet",
            "file_sha256": f"{k:064x}",
            "file_bytes": 0,
            "profile": "synthetic",
            "grain": "unit",
            "timezone": "America/Los_Angeles",
            "started_at": stamp,
            "finished_at": stamp,
            "rows_read": rows,
            "rows_accepted": rows,
            "rows_rejected": 0,
            "incidents": rows,
            "units": 50,
            "first_received_at": part["call_received_at"].min(),
            "last_received_at": part["call_received_at"].max(),
            "tool_version": "bench",
        }
        pl.DataFrame([log], schema=LOG_SCHEMA).write_parquet(stage / "ingest_log.parquet")
        os.rename(stage, store.batches_dir / batch)
    with store.write_lock():
        store.refresh_derived()
    return store


def _run(args: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run([*DISPATCH, *args], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"dispatch {' '.join(args)} failed: {r.stdout}{r.stderr}")
    return dt


def _median(fn, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def _measure(root: Path, work: Path, csv: Path, mapping: Path, repeat: int) -> dict[str, float]:
    d = ["--data-dir", str(root)]
    out = {
        "query fractile_compliance": _median(
            lambda: _run(
                [
                    "query",
                    "fractile_compliance",
                    "-p",
                    "metric=total_response",
                    "-p",
                    "period=month",
                    "-p",
                    "target_s=480",
                    "-f",
                    "csv",
                    *d,
                ]
            ),
            repeat,
        ),
        "status": _median(lambda: _run(["status", *d]), repeat),
    }

    def on_copy(cmd) -> float:
        copy = work / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(root, copy, symlinks=True)
        try:
            return _run([*cmd(copy), "--data-dir", str(copy)])
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    out["ingest 1 batch (300 rows)"] = _median(
        lambda: on_copy(lambda _: ["ingest", str(csv), "--mapping", str(mapping)]), repeat
    )
    victim = sorted(p.name for p in (root / "lake/batches").iterdir() if "-bnch" in p.name)
    victim = victim[len(victim) // 2 : len(victim) // 2 + 1]
    if not victim:  # compacted: pick a batch id from the log
        victim = [Store(root).ingest_log()["batch_id"][len(Store(root).ingest_log()) // 2]]
    out["batches remove 1 batch"] = _median(
        lambda: on_copy(lambda _: ["batches", "remove", victim[0], "--yes"]), repeat
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-compact-"))
    try:
        root = work / "store"
        t = time.perf_counter()
        make_batches(root, args.batches, args.rows)
        print(
            f"store: {args.batches:,} batches x {args.rows} rows written in "
            f"{time.perf_counter() - t:.1f} s",
            flush=True,
        )
        csv = make_csv(work / "one_batch.csv", args.rows, seed=99)
        mapping = work / "mapping.toml"
        mapping.write_text(MAPPING.replace("[source]", '[source]\nagency = "Synthetic FD"'))
        before = _measure(root, work, csv, mapping, args.repeat)
        compact_s = _run(["compact", "--grace-s", "0", "--data-dir", str(root)])
        after = _measure(root, work, csv, mapping, args.repeat)
        folders = sum(1 for _ in (root / "lake/batches").iterdir())
        print(f"compact: {compact_s:.2f} s (one process); folders after: {folders}")
        print(f"\n{'work':32} {'before s':>9} {'after s':>9} {'after/before':>13}")
        for k in before:
            print(f"{k:32} {before[k]:9.2f} {after[k]:9.2f} {after[k] / before[k]:12.2f}x")
        print(f"{'dispatch compact':32} {'':>9} {compact_s:9.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
