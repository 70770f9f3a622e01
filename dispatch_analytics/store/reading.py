"""Reading the lake from Python (no DuckDB): which batches are live, the ingest log, the row
hashes seen before. Mixed into :class:`~dispatch_analytics.store.store.Store`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..schema.tables import LOG_SCHEMA
from .compacted import COMPACT_COLUMN, Layout, read_layout

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

    def layout(self) -> Layout:
        """One listing of the batch folders and compacted files (:mod:`.compacted`)."""
        return read_layout(self.batches_dir)

    def live_batches(self) -> set[str]:
        """Ids of the batches visible to the views (ingested, not removed): batch folders
        (and removal records) not compacted away, and the batches compacted files hold."""
        lay = self.layout()
        folders = {d.name for d in lay.originals}
        return (folders | lay.compacted_batches()) - self.removed_batches()

    def scan_rows(
        self,
        kind: str,
        batches: set[str] | None = None,
        schema: dict | None = None,
        columns: list[str] | None = None,
        layout: Layout | None = None,
    ) -> pl.LazyFrame | None:
        """The stored rows of one kind (``responses``, ``rejects``, ``ingest_log``) of
        ``batches`` (every live file when None), whether in their batch folder or compacted;
        None when no file holds any. ``schema`` reads files of older versions (missing
        columns null); ``columns`` selects."""
        lay = layout or self.layout()
        whole, part = lay.files_of(kind, batches)
        frames = []
        for files, filtered in ((whole, False), (part, True)):
            if not files:
                continue
            if schema is not None:
                lf = pl.scan_parquet(
                    files,
                    schema=pl.Schema(
                        {**schema, **({COMPACT_COLUMN: pl.String} if filtered else {})}
                    ),
                    missing_columns="insert",
                    extra_columns="ignore",
                    glob=False,
                )
            else:
                lf = pl.scan_parquet(
                    files, glob=False, missing_columns="insert", extra_columns="ignore"
                )
            if filtered and batches is not None:
                lf = lf.filter(pl.col("batch_id").is_in(sorted(batches)))
            if COMPACT_COLUMN in lf.collect_schema():
                lf = lf.drop(COMPACT_COLUMN)
            frames.append(lf.select(columns) if columns else lf)
        if not frames:
            return None
        return pl.concat(frames, how="diagonal_relaxed")

    def ingest_log(self) -> pl.DataFrame:
        """Every batch ingested and not removed (oldest first)."""
        lay = self.layout()
        removed = self.removed_batches()
        live = ({d.name for d in lay.originals} | lay.compacted_batches()) - removed
        lf = self.scan_rows("ingest_log", live, schema=LOG_SCHEMA, layout=lay)
        if lf is None:
            return pl.DataFrame(schema=LOG_SCHEMA)
        return lf.select(list(LOG_SCHEMA)).collect().sort("batch_id")

    def has_file(self, sha256: str) -> str | None:
        """The batch id that already ingested a file with this content hash, if any."""
        log = self.ingest_log().filter(pl.col("file_sha256") == sha256)
        return None if log.is_empty() else log["batch_id"][0]

    def seen_rows(self, exclude: set[str] | None = None) -> pl.DataFrame:
        """Row hashes already stored (accepted or rejected): ``row_hash, source, source_row``;
        rows of removed batches and of the batches in ``exclude`` do not count."""
        cols = ["row_hash", "source", "source_row"]
        lay = self.layout()
        keep = self.live_batches() - (exclude or set())
        frames = [
            lf
            for kind in ("responses", "rejects")
            if (lf := self.scan_rows(kind, keep, columns=cols, layout=lay)) is not None
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
