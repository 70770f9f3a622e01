"""Writing batches: each input file is read through the ingest layer and published as one
atomic batch folder of the lake (responses, rejects, one ingest-log row)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import polars as pl

from .._version import __version__
from ..errors import IngestError
from ..ingest.pipeline import FileResult, IngestReport, check_columns, normalize_chunk
from ..io.sources import ROW_COL, SourceFile
from ..schema.tables import LOG_SCHEMA

__all__ = ["ingest_files", "new_batch_id"]

_COMPRESSION = "lz4"


def new_batch_id(sha: str) -> str:
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}-{sha[:8]}-{uuid.uuid4().hex[:4]}"


def ingest_files(files, profile, store, scratch, dry_run, chunk_rows, progress) -> IngestReport:
    results = []
    seen = (
        store.seen_rows()
        if store is not None
        else pl.DataFrame(schema={"row_hash": pl.UInt64, "source": pl.String, ROW_COL: pl.Int64})
    )
    done_shas: dict[str, str] = {}
    for path in files:
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        work = scratch / f"work-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        try:
            src = SourceFile(
                path,
                work,
                delimiter=profile.delimiter,
                encoding=profile.encoding,
                null_values=profile.null_values,
            )
            check_columns(profile, src.columns, path)
            res = FileResult(source=str(path), encoding=src.encoding_used, delimiter=src.delimiter)
            prior = done_shas.get(src.sha256) or (
                store.has_file(src.sha256) if store is not None else None
            )
            if prior:
                res.skipped_as = prior
                results.append(res)
                continue
            batch_id = new_batch_id(src.sha256)
            stage = work / batch_id
            stage.mkdir()
            est = src.estimate_rows()
            reasons: Counter = Counter()
            inc_ids, unit_keys = [], []
            first = last = None
            raw_columns = src.columns
            writer = ThreadPoolExecutor(max_workers=1)  # write chunk i while parsing i + 1
            pending = []
            for i, chunk in enumerate(src.chunks(chunk_rows)):
                acc, rej = normalize_chunk(chunk, profile, str(path), batch_id, seen, raw_columns)
                res.rows_read += chunk.height
                res.rows_accepted += acc.height
                res.rows_rejected += rej.height
                reasons.update(rej["reason"].to_list())
                if acc.height:
                    pending.append(
                        writer.submit(
                            acc.write_parquet,
                            stage / f"responses-{i:05d}.parquet",
                            compression=_COMPRESSION,
                        )
                    )
                    inc_ids.append(acc["incident_id"].unique())
                    unit_keys.append(acc["unit_id"].drop_nulls().unique())
                    lo, hi = acc["call_received_at"].min(), acc["call_received_at"].max()
                    first = lo if first is None else min(first, lo)
                    last = hi if last is None else max(last, hi)
                if rej.height:
                    pending.append(
                        writer.submit(
                            rej.write_parquet,
                            stage / f"rejects-{i:05d}.parquet",
                            compression=_COMPRESSION,
                        )
                    )
                new = pl.concat(
                    [
                        acc.select(pl.col("row_hash"), pl.col("source"), pl.col(ROW_COL)),
                        rej.select(pl.col("row_hash"), pl.col("source"), pl.col(ROW_COL)),
                    ]
                )
                seen = pl.concat([seen, new.unique("row_hash", keep="first")])
                if progress:
                    progress(str(path), res.rows_read, est)
                while len(pending) > 4:  # bound memory held by queued writes
                    pending.pop(0).result()
            for fut in pending:
                fut.result()
            writer.shutdown()
            if res.rows_read != res.rows_accepted + res.rows_rejected:  # pragma: no cover
                raise IngestError(f"{path}: internal error: rows do not add up")
            res.batch_id = batch_id
            res.rejects_by_reason = dict(reasons.most_common())
            res.incidents = pl.concat(inc_ids).n_unique() if inc_ids else 0
            res.units = pl.concat(unit_keys).n_unique() if unit_keys else 0
            res.first_received_at, res.last_received_at = first, last
            res.seconds = time.perf_counter() - t0
            log = pl.DataFrame(
                [
                    {
                        "batch_id": batch_id,
                        "source": str(path),
                        "file_sha256": src.sha256,
                        "file_bytes": src.file_bytes,
                        "profile": profile.name,
                        "grain": profile.grain,
                        "timezone": profile.timezone,
                        "started_at": started,
                        "finished_at": datetime.now(UTC),
                        "rows_read": res.rows_read,
                        "rows_accepted": res.rows_accepted,
                        "rows_rejected": res.rows_rejected,
                        "incidents": res.incidents,
                        "units": res.units,
                        "first_received_at": first,
                        "last_received_at": last,
                        "tool_version": __version__,
                    }
                ],
                schema=LOG_SCHEMA,
            )
            log.write_parquet(stage / "ingest_log.parquet")
            if not dry_run:
                final = store.tmp_dir / batch_id
                if stage != final:
                    shutil.move(str(stage), str(final))
                store.publish(final)
            done_shas[src.sha256] = batch_id
            results.append(res)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return IngestReport(files=results, profile=profile.name, dry_run=dry_run)
