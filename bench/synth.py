"""Synthetic incidents for the benchmarks: located in San Francisco, a year of calls.

- ``make_csv(path, n)``: an incident-grain CAD export (one unit per incident) with local
  times, like a real export, for end-to-end runs (ingest -> zones -> fractiles).
- ``make_store(root, n)``: the same incidents written straight into a store's lake as one
  batch (canonical columns), to benchmark what happens after ingest at 10M rows without
  spending minutes on CSV parsing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from dispatch_analytics.schema.tables import LOG_SCHEMA, RESPONSE_SCHEMA
from dispatch_analytics.store import Store

SF_BBOX = (-122.515, 37.705, -122.355, 37.835)
MAPPING = """
[source]
grain = "unit"
timezone = "America/Los_Angeles"
timestamp_format = "%Y-%m-%d %H:%M:%S"
[columns]
incident_id = "INC"
unit_id = "UNIT"
call_type = "TYPE"
priority = "PRI"
call_received_at = "RCVD"
dispatched_at = "DISP"
enroute_at = "ENRT"
on_scene_at = "ARRV"
cleared_at = "CLR"
latitude = "LAT"
longitude = "LON"
[categories]
ems = ["Medical*"]
fire = ["*Fire*", "Alarm*"]
"""


def _arrays(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = SF_BBOX
    start = np.datetime64("2023-01-01T00:00:00", "s")
    rcvd = start + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")
    disp = rcvd + rng.lognormal(np.log(60), 0.5, n).astype("int64").astype("timedelta64[s]")
    enrt = disp + rng.lognormal(np.log(60), 0.4, n).astype("int64").astype("timedelta64[s]")
    arrv = enrt + rng.lognormal(np.log(240), 0.5, n).astype("int64").astype("timedelta64[s]")
    clr = arrv + rng.integers(600, 3600, n).astype("timedelta64[s]")
    types = np.array(["Medical Incident", "Structure Fire", "Alarms", "Traffic Collision"])
    return {
        "lon": x0 + rng.random(n) * (x1 - x0),
        "lat": y0 + rng.random(n) * (y1 - y0),
        "rcvd": rcvd,
        "disp": disp,
        "enrt": enrt,
        "arrv": arrv,
        "clr": clr,
        "type": types[rng.choice(4, n, p=[0.6, 0.15, 0.15, 0.1])],
        "pri": rng.integers(1, 4, n),
    }


def make_csv(path: Path, n: int, seed: int = 0) -> Path:
    """Write an n-incident CSV export (local wall-clock times; see MAPPING)."""
    a = _arrays(n, seed)

    def txt(v):
        # the instants are generated as local wall-clock readings
        return pl.Series(v.astype("datetime64[ms]")).dt.strftime("%Y-%m-%d %H:%M:%S")

    pl.DataFrame(
        {
            "INC": pl.int_range(0, n, eager=True).cast(pl.String),
            "UNIT": pl.Series(np.char.add("E", (np.arange(n) % 50).astype(str))),
            "TYPE": a["type"],
            "PRI": a["pri"].astype(str),
            "RCVD": txt(a["rcvd"]),
            "DISP": txt(a["disp"]),
            "ENRT": txt(a["enrt"]),
            "ARRV": txt(a["arrv"]),
            "CLR": txt(a["clr"]),
            "LAT": np.round(a["lat"], 6),
            "LON": np.round(a["lon"], 6),
        }
    ).write_csv(path)
    return path


def response_frame(
    a: dict[str, np.ndarray], first_id: int, agency: str | None = None
) -> pl.DataFrame:
    """The unit rows of ``_arrays`` output as a frame of every ``RESPONSE_SCHEMA`` column
    (incident ids ``first_id ..``, one unit each; lineage columns null for the caller to set),
    the canonical columns an ingest would have written."""
    m = len(a["rcvd"])
    utc = {
        k: pl.Series(a[k].astype("datetime64[us]")).dt.replace_time_zone("UTC")
        for k in ("rcvd", "disp", "enrt", "arrv", "clr")
    }
    cat = np.where(
        a["type"] == "Medical Incident",
        "ems",
        np.where(np.isin(a["type"], ["Structure Fire", "Alarms"]), "fire", "other"),
    )
    df = pl.DataFrame(
        {
            "agency": pl.Series([agency] * m, dtype=pl.String),
            "incident_id": pl.int_range(first_id, first_id + m, eager=True).cast(pl.String),
            "unit_id": pl.Series(np.char.add("E", (np.arange(m) % 50).astype(str))),
            "station_id": pl.Series(((np.arange(m) % 50) + 1).astype(str)),
            "call_type": a["type"],
            "call_category": cat,
            "priority": a["pri"].astype(str),
            "call_received_at": utc["rcvd"],
            "dispatched_at": utc["disp"],
            "enroute_at": utc["enrt"],
            "on_scene_at": utc["arrv"],
            "cleared_at": utc["clr"],
            "latitude": a["lat"],
            "longitude": a["lon"],
            "timezone": "America/Los_Angeles",
            "call_received_local_at": utc["rcvd"]
            .dt.convert_time_zone("America/Los_Angeles")
            .dt.replace_time_zone(None),
            "stages_recorded": 5,
            "last_stage_at": utc["clr"],
            "grain": "unit",
            "profile": "synthetic",
            "row_hash": pl.int_range(first_id, first_id + m, eager=True).cast(pl.UInt64),
        }
    )
    missing = [c for c in RESPONSE_SCHEMA if c not in df.columns]
    df = df.with_columns([pl.lit(None).cast(RESPONSE_SCHEMA[c]).alias(c) for c in missing])
    return df.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()])


# Long: two literal rows, one line per stored column of responses and of the ingest log.
def make_store(root: Path, n: int, seed: int = 0, chunk: int = 2_000_000) -> Store:
    """A store holding n incidents (one unit each) in one batch, written directly."""
    store = Store(root)
    batch = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-synthetic"
    stage = store.tmp_dir / batch
    stage.mkdir(parents=True)
    for i, lo in enumerate(range(0, n, chunk)):
        m = min(chunk, n - lo)
        a = _arrays(m, seed + i)
        df = response_frame(a, lo).with_columns(
            pl.lit("synthetic").alias("source"),
            pl.lit(batch).alias("batch_id"),
            pl.int_range(lo + 1, lo + m + 1, eager=True).alias("source_row"),
        )
        df.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()]).write_parquet(
            stage / f"responses-{i:05d}.parquet"
        )
    pl.DataFrame(schema={k: v for k, v in LOG_SCHEMA.items()}).vstack(
        pl.DataFrame(
            [
                {
                    "batch_id": batch,
                    "source": "synthetic",
                    "file_sha256": batch,
                    "file_bytes": 0,
                    "profile": "synthetic",
                    "grain": "unit",
                    "timezone": "America/Los_Angeles",
                    "started_at": datetime.now(UTC),
                    "finished_at": datetime.now(UTC),
                    "rows_read": n,
                    "rows_accepted": n,
                    "rows_rejected": 0,
                    "incidents": n,
                    "units": 50,
                    "first_received_at": None,
                    "last_received_at": None,
                    "tool_version": "bench",
                }
            ],
            schema=LOG_SCHEMA,
        )
    ).write_parquet(stage / "ingest_log.parquet")
    os.rename(stage, store.batches_dir / batch)
    with store.write_lock():
        store.refresh_derived()  # as ingest does: fold the batch into the derived incidents
    return store
