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

    def changed_keys(self, added: set[str], removed: set[str]) -> pl.DataFrame:
        """The incidents (``agency, incident_id``, unique) whose rows batches ``added`` hold
        or batches ``removed`` held (from their removal records): what an ingest or a
        removal changes. Only those batches' files are read (and the small removal
        records)."""
        frames = []
        rows = self.scan_rows("responses", added) if added else None  # folder or compacted
        if rows is not None:
            frames.append(
                rows.select(
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

    def seen_files(self, exclude: set[str] | None = None) -> tuple[set[str], Layout]:
        """The live batches (but those in ``exclude``) whose row hashes count as stored, and
        the listing of the folders and compacted files that hold them (listed once per
        ingest: :meth:`seen_rows` takes it back)."""
        lay = self.layout()
        return self.live_batches() - (exclude or set()), lay

    def seen_rows(
        self,
        exclude: set[str] | None = None,
        hashes: pl.Series | None = None,
        files: tuple[set[str], Layout] | None = None,
    ) -> pl.DataFrame:
        """Row hashes already stored (accepted or rejected): ``row_hash, source, source_row``,
        one row per hash; rows of removed batches and of the batches in ``exclude`` do not
        count, whether in their batch folder or compacted.

        With ``hashes``, only the stored rows with one of those hashes: a semi-join of the
        given hashes against the stored ``row_hash`` column, streamed file by file (the
        stored hashes are never all in memory); ``files`` (from :meth:`seen_files`) saves
        listing the batches again.
        """
        cols = ["row_hash", "source", "source_row"]
        schema = {"row_hash": pl.UInt64, "source": pl.String, "source_row": pl.Int64}
        keep, lay = files if files is not None else self.seen_files(exclude)
        frames = [
            lf
            for kind in ("responses", "rejects")
            if (lf := self.scan_rows(kind, keep, columns=cols, layout=lay)) is not None
        ]
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
