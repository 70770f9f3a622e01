"""Column names and types of the stored tables (the lake's Parquet files)."""

from __future__ import annotations

import polars as pl

from .fields import STAGE_ORDER

__all__ = ["RESPONSE_SCHEMA", "REJECT_SCHEMA", "LOG_SCHEMA"]

_TS = pl.Datetime("us", "UTC")

#: Columns of every accepted row (``responses`` view), in order.
RESPONSE_SCHEMA: dict[str, pl.DataType] = {
    "agency": pl.String(),
    "incident_id": pl.String(),
    "unit_id": pl.String(),
    "unit_type": pl.String(),
    "station_id": pl.String(),
    "call_type": pl.String(),
    "call_category": pl.String(),
    "priority": pl.String(),
    "address": pl.String(),
    "zipcode": pl.String(),
    **{f: _TS for f in STAGE_ORDER},
    "latitude": pl.Float64(),
    "longitude": pl.Float64(),
    "location_flag": pl.String(),
    "timezone": pl.String(),
    "call_received_local_at": pl.Datetime("us"),
    "time_flags": pl.String(),
    "stage_flags": pl.String(),
    "stage_raw": pl.String(),
    "stages_recorded": pl.Int16(),
    "last_stage_at": _TS,
    "grain": pl.String(),
    "profile": pl.String(),
    "source": pl.String(),
    "batch_id": pl.String(),
    "source_row": pl.Int64(),
    "row_hash": pl.UInt64(),
}

#: Columns of every rejected source row (``rejects`` view).
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_row": pl.Int64(),
    "field": pl.String(),
    "reason": pl.String(),
    "value": pl.String(),
    "detail": pl.String(),
    "agency": pl.String(),
    "incident_id": pl.String(),
    "raw_row": pl.String(),
    "profile": pl.String(),
    "batch_id": pl.String(),
    "row_hash": pl.UInt64(),
}

#: One row per batch (``ingest_log`` view).
LOG_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.String(),
    "source": pl.String(),
    "file_sha256": pl.String(),
    "file_bytes": pl.Int64(),
    "profile": pl.String(),
    "grain": pl.String(),
    "timezone": pl.String(),
    "started_at": _TS,
    "finished_at": _TS,
    "rows_read": pl.Int64(),
    "rows_accepted": pl.Int64(),
    "rows_rejected": pl.Int64(),
    "incidents": pl.Int64(),
    "units": pl.Int64(),
    "first_received_at": _TS,
    "last_received_at": _TS,
    "tool_version": pl.String(),
    # the profile's canonical content (store.batches.profile_digest): dedupe by file hash
    # takes it into account
    "profile_sha256": pl.String(),
}
