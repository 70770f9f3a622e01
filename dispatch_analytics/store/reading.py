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

    def changed_keys(self, added: set[str], removed: set[str]) -> pl.DataFrame:
        """The incidents (``agency, incident_id``, unique) whose rows batches ``added`` hold
        or batches ``removed`` held (from their removal records): what an ingest or a
        removal changes. Only those batches' files are read (and the small removal
        records)."""
        frames = []
        files = self.files("responses", added) if added else []
        if files:
            frames.append(
                pl.scan_parquet(files, glob=False).select(
                    pl.coalesce("agency", "profile").cast(pl.String).alias("agency"),
                    pl.col("incident_id").cast(pl.String),
                )
            )
        records = self.files("removes") if removed else []
        if records:
            frames.append(
                pl.scan_parquet(records, schema=REMOVE_SCHEMA, missing_columns="insert", glob=False)
                .filter(
                    pl.col("batch_id").is_in(sorted(removed)) & pl.col("incident_id").is_not_null()
                )
                .select("agency", "incident_id")
            )
        if not frames:
            return pl.DataFrame(schema={"agency": pl.String, "incident_id": pl.String})
        return pl.concat(frames).unique().collect()

    def has_file(self, sha256: str) -> str | None:
        """The batch id that already ingested a file with this content hash, if any."""
        log = self.ingest_log().filter(pl.col("file_sha256") == sha256)
        return None if log.is_empty() else log["batch_id"][0]

    def seen_files(self, exclude: set[str] | None = None) -> list[list[str]]:
        """The responses files and the rejects files whose row hashes count as stored (of
        the live batches but those in ``exclude``)."""
        keep = self.live_batches() - (exclude or set())
        return [self.files("responses", keep), self.files("rejects", keep)]

    def seen_rows(
        self,
        exclude: set[str] | None = None,
        hashes: pl.Series | None = None,
        files: list[list[str]] | None = None,
    ) -> pl.DataFrame:
        """Row hashes already stored (accepted or rejected): ``row_hash, source, source_row``,
        one row per hash; rows of removed batches and of the batches in ``exclude`` do not
        count.

        With ``hashes``, only the stored rows with one of those hashes: a semi-join of the
        given hashes against the stored ``row_hash`` column, streamed file by file (the
        stored hashes are never all in memory); ``files`` (from :meth:`seen_files`) saves
        listing the batches again.
        """
        cols = ["row_hash", "source", "source_row"]
        schema = {"row_hash": pl.UInt64, "source": pl.String, "source_row": pl.Int64}
        if files is None:
            files = self.seen_files(exclude)
        frames = [pl.scan_parquet(f, glob=False).select(cols) for f in files if f]
        if not frames or (hashes is not None and hashes.len() == 0):
            return pl.DataFrame(schema=schema)
        lf = pl.concat(frames)
        if hashes is not None:
            lf = lf.filter(pl.col("row_hash").is_in(hashes.unique().implode()))
        out = (
            lf.group_by("row_hash")
            .agg(pl.col("source").first(), pl.col("source_row").first())
            .collect(engine="streaming")
        )
        return out.cast(schema)  # type: ignore[arg-type]
