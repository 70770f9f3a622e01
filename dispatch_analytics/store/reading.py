"""Reading the lake from Python (no DuckDB): which batches are live, the ingest log, the row
hashes seen before. Mixed into :class:`~dispatch_analytics.store.store.Store`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..schema.tables import LOG_SCHEMA

__all__ = ["REMOVE_SCHEMA", "StoreReading"]

#: Rows of a batch folder's ``removes.parquet``: the batches it removes, and their incidents
#: (one row per removed batch and incident; ``incident_id`` null for a batch without rows).
REMOVE_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.String(),
    "agency": pl.String(),
    "incident_id": pl.String(),
}


class StoreReading:
    """The Python readers of a store's batches (``batches_dir`` and ``_PATTERNS`` come from
    :class:`~dispatch_analytics.store.store.Store`)."""

    batches_dir: Path
    _PATTERNS: dict[str, str]

    def files(self, kind: str, batches: set[str] | None = None) -> list[str]:
        """The files of one table kind (only of ``batches`` when given), for Python readers."""
        out = []
        for f in sorted(self.batches_dir.glob("*/" + self._PATTERNS[kind])):
            if batches is None or f.parent.name in batches:
                out.append(str(f))
        return out

    def removed_batches(self) -> set[str]:
        """Ids of the batches removed (hidden from every view; their folders may linger until
        the next writer deletes them)."""
        files = self.files("removes")
        if not files:
            return set()
        ids = pl.scan_parquet(files, schema=REMOVE_SCHEMA, missing_columns="insert", glob=False)
        return set(ids.select("batch_id").drop_nulls().collect()["batch_id"].to_list())

    def live_batches(self) -> set[str]:
        """Ids of the batch folders visible to the views (ingested, not removed)."""
        folders = {d.name for d in self.batches_dir.iterdir() if d.is_dir()}
        return folders - self.removed_batches()

    def ingest_log(self) -> pl.DataFrame:
        """Every batch ingested and not removed (oldest first)."""
        files = self.files("ingest_log", self.live_batches())
        if not files:
            return pl.DataFrame(schema=LOG_SCHEMA)
        return (
            pl.scan_parquet(files, schema=LOG_SCHEMA, missing_columns="insert", glob=False)
            .collect()
            .sort("batch_id")
        )

    def has_file(self, sha256: str) -> str | None:
        """The batch id that already ingested a file with this content hash, if any."""
        log = self.ingest_log().filter(pl.col("file_sha256") == sha256)
        return None if log.is_empty() else log["batch_id"][0]

    def seen_rows(self, exclude: set[str] | None = None) -> pl.DataFrame:
        """Row hashes already stored (accepted or rejected): ``row_hash, source, source_row``;
        rows of removed batches and of the batches in ``exclude`` do not count."""
        cols = ["row_hash", "source", "source_row"]
        keep = self.live_batches() - (exclude or set())
        frames = [
            pl.scan_parquet(files, glob=False).select(cols)
            for files in (self.files("responses", keep), self.files("rejects", keep))
            if files
        ]
        if not frames:
            return pl.DataFrame(
                schema={"row_hash": pl.UInt64, "source": pl.String, "source_row": pl.Int64}
            )
        return (
            pl.concat(frames)
            .group_by("row_hash")
            .agg(pl.col("source").first(), pl.col("source_row").first())
            .collect()
        )
