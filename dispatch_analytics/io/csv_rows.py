"""One block of CSV records -> a frame of rows, with the records that cannot be rows kept as
problem rows (never guessed): a record with more or fewer fields than the header is a
``malformed_row``, one holding invalid UTF-8 bytes a ``bad_encoding`` row.

A problem row has every source column blank and three more columns: :data:`READ_REASON`,
:data:`READ_DETAIL` and :data:`READ_RAW` (the record's text). The ingest layer rejects it with
that reason. Good records are parsed by Polars in one call; when Polars disagrees with the
record count (an odd quote) or fails, the block's good records are parsed one by one by the
standard library's ``csv`` module, and any record it reads with the wrong field count is a
``malformed_row`` too.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import polars as pl

from .csv_blocks import Records, split_records
from .encoding import invalid_utf8_offsets

__all__ = ["ROW_COL", "READ_REASON", "READ_DETAIL", "READ_RAW", "READ_COLUMNS", "parse_block"]

ROW_COL = "source_row"
READ_REASON = "_read_reason"
READ_DETAIL = "_read_detail"
READ_RAW = "_read_raw"
READ_COLUMNS = (READ_REASON, READ_DETAIL, READ_RAW)
#: the raw text kept of a problem row
_RAW_MAX = 10_000


def parse_block(
    block: bytes,
    offset: int,
    first_row: int,
    columns: list[str],
    delimiter: str,
    null_values: tuple[str, ...],
    check_utf8: bool,
) -> tuple[pl.DataFrame, int]:
    """Parse one block of whole records.

    Parameters
    ----------
    block : bytes
        Whole records, UTF-8 (possibly with invalid bytes when ``check_utf8``).
    offset : int
        The block's byte offset in the file (named in ``bad_encoding`` details).
    first_row : int
        The data row number of the block's first record (blank records take a number too,
        so row numbers follow the file's lines).
    columns : list of str
        The header's (unique) names.
    delimiter : str
    null_values : tuple of str
    check_utf8 : bool
        Look for invalid UTF-8 bytes (the file is UTF-8 but not valid throughout).

    Returns
    -------
    frame : polars.DataFrame
        ``source_row``, the columns (text), and the three ``_read_*`` columns.
    records : int
        Records consumed (the next block's ``first_row`` is ``first_row + records``).
    """
    recs = split_records(block, ord(delimiter))
    n = len(recs)
    rows = np.arange(first_row, first_row + n, dtype=np.int64)
    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    width = len(columns)
    bad_fields = ~recs.blank & (recs.fields != width)
    for k in np.flatnonzero(bad_fields):
        reason[k] = "malformed_row"
        detail[k] = f"row has {recs.fields[k]} fields, the header has {width}"
    if check_utf8:
        for pos in invalid_utf8_offsets(block):
            i = int(np.searchsorted(recs.starts, pos, side="right")) - 1
            if i >= 0 and reason[i] is None:
                reason[i] = "bad_encoding"
                detail[i] = (
                    f"invalid UTF-8 byte 0x{block[pos]:02X} at byte offset {offset + pos} of "
                    "the file"
                )
    good = ~recs.blank & np.array([r is None for r in reason], dtype=bool)
    frame = _good_rows(block, recs, good, rows[good], columns, delimiter, null_values)
    frame, reason, detail = _fallback_problems(frame, reason, detail, first_row, width)
    problems = np.flatnonzero(np.array([r is not None for r in reason], dtype=bool))
    if problems.size:
        frame = pl.concat(
            [frame, _problem_rows(block, recs, problems, rows, reason, detail, columns)],
            how="vertical",
        ).sort(ROW_COL)
    return frame, n


def _empty(columns: list[str]) -> pl.DataFrame:
    schema = {ROW_COL: pl.Int64, **{c: pl.String for c in columns}}
    return pl.DataFrame(schema={**schema, **dict.fromkeys(READ_COLUMNS, pl.String)})


def _good_rows(
    block: bytes,
    recs: Records,
    good: np.ndarray,
    rows: np.ndarray,
    columns: list[str],
    delimiter: str,
    null_values: tuple[str, ...],
) -> pl.DataFrame:
    """The good records as rows (Polars; the ``csv`` module when Polars disagrees)."""
    if not good.any():
        return _empty(columns)
    if good.all():
        data = block
    else:
        data = b"\n".join(
            block[s:e] for s, e in zip(recs.starts[good], recs.ends[good], strict=True)
        )
    schema = {c: pl.String for c in columns}
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            schema=schema,
            separator=delimiter,
            null_values=list(null_values) or None,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
        ok = df.height == len(rows)
    except pl.exceptions.PolarsError:
        ok = False
    keep = [ROW_COL, *columns]
    if not ok:
        df = _csv_module_rows(block, recs, good, columns, delimiter, null_values)
        keep.append("_fields")
    return (
        df.with_columns(pl.Series(ROW_COL, rows, dtype=pl.Int64))
        .select(keep)
        .with_columns([pl.lit(None, pl.String).alias(c) for c in READ_COLUMNS])
    )


def _csv_module_rows(
    block: bytes,
    recs: Records,
    good: np.ndarray,
    columns: list[str],
    delimiter: str,
    null_values: tuple[str, ...],
) -> pl.DataFrame:
    """The good records parsed one by one with ``csv``; a record read with the wrong number
    of fields gets all columns null and its field count in ``_fields`` (made a problem row
    by :func:`_fallback_problems`)."""
    width = len(columns)
    nulls = set(null_values)
    out: list[list[str | None]] = [[] for _ in range(width)]
    counts = []
    for s, e in zip(recs.starts[good], recs.ends[good], strict=True):
        text = block[s:e].decode("utf-8", errors="replace")
        try:
            fields: list[str] = next(csv.reader([text], delimiter=delimiter, strict=False), [])
        except csv.Error:
            fields = []
        counts.append(len(fields))
        values: list[str | None] = (
            [None if v in nulls else v for v in fields] if len(fields) == width else [None] * width
        )
        for j, v in enumerate(values):
            out[j].append(v)
    df = pl.DataFrame({c: pl.Series(c, out[j], dtype=pl.String) for j, c in enumerate(columns)})
    return df.with_columns(pl.Series("_fields", counts, dtype=pl.Int64))


def _fallback_problems(
    frame: pl.DataFrame, reason: np.ndarray, detail: np.ndarray, first: int, width: int
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Records the ``csv`` module read with the wrong field count become problem rows."""
    if "_fields" not in frame.columns:
        return frame, reason, detail
    bad = frame.filter(pl.col("_fields") != width)
    for row, k in zip(bad[ROW_COL].to_list(), bad["_fields"].to_list(), strict=True):
        i = row - first
        reason[i] = "malformed_row"
        detail[i] = f"row has {k} fields (read with quotes), the header has {width}"
    return frame.filter(pl.col("_fields") == width).drop("_fields"), reason, detail


def _problem_rows(
    block: bytes,
    recs: Records,
    idx: np.ndarray,
    rows: np.ndarray,
    reason: np.ndarray,
    detail: np.ndarray,
    columns: list[str],
) -> pl.DataFrame:
    raw = [
        block[recs.starts[i] : recs.ends[i]].decode("utf-8", errors="replace")[:_RAW_MAX]
        for i in idx
    ]
    k = len(idx)
    return pl.DataFrame(
        {
            ROW_COL: pl.Series(rows[idx], dtype=pl.Int64),
            **{c: pl.Series(c, [None] * k, dtype=pl.String) for c in columns},
            READ_REASON: pl.Series(list(reason[idx]), dtype=pl.String),
            READ_DETAIL: pl.Series(list(detail[idx]), dtype=pl.String),
            READ_RAW: pl.Series(raw, dtype=pl.String),
        }
    )
