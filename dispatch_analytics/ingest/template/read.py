"""Reading a sample of rows from a CSV (optionally gzipped), JSON lines, Parquet or Excel file.

:func:`_read_sample` detects the kind of file from its first bytes and its suffixes and
returns the header and the first rows as strings (a :class:`_Sample`); for a CSV it also
finds the encoding (UTF-8 with or without BOM, cp1252, latin-1) and the delimiter.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ...errors import IngestError

__all__ = ["_Sample", "_read_sample"]

_DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 16
_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class _Sample:
    """The header and the first rows of a source file, as strings."""

    kind: str  # csv, parquet, jsonl
    names: list[str]  # unique names
    originals: list[str]  # names as in the file
    rows: list[list[str | None]]
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None  # Excel: the sheet sampled (the first)


def _unique(names: list[str]) -> list[str]:
    counts: Counter[str] = Counter()
    out = []
    for n in names:
        counts[n] += 1
        out.append(n if counts[n] == 1 else f"{n}#{counts[n]}")
    return out


def _kind(path: Path, head: bytes) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = head[:2] == b"\x1f\x8b" or (bool(suffixes) and suffixes[-1] in (".gz", ".gzip"))
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if head[:4] == b"PAR1" or last in (".parquet", ".pq"):
        return "parquet", False
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl", gz
    return "csv", gz


def _read_head(path: Path, gz: bool, max_lines: int) -> tuple[bytes, bool]:
    """The first ``max_lines`` complete lines (bytes) and whether the end of file was reached."""
    buf = bytearray()
    lines = 0
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    return bytes(buf), True
                buf += chunk
                lines += chunk.count(b"\n")
                if lines > max_lines or len(buf) >= _MAX_BYTES:
                    cut = buf.rfind(b"\n")
                    return bytes(buf[: cut + 1] if cut >= 0 else buf), False
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _records(text: str, delimiter: str):
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    return (r for r in reader if r)


def _sniff_delimiter(text: str) -> str:
    best, best_score = ",", (False, 0.0, 0)
    for delim in _DELIMITERS:
        try:
            rows = list(itertools.islice(_records(text, delim), 60))
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(len(r) == width for r in rows) / len(rows)
        score = (width > 1, consistent, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return True
    try:
        float(cell)
        return True
    except ValueError:
        return bool(re.fullmatch(r"[\d/:.\- TZ+APMapm]+", cell)) and any(c.isdigit() for c in cell)


def _read_csv(path: Path, gz: bool, sample_rows: int) -> _Sample:
    data, eof = _read_head(path, gz, sample_rows + 2)
    if not data.strip():
        raise IngestError(f"cannot read {path}: the file is empty")
    text, encoding = _decode(data)
    if not text.strip():
        raise IngestError(f"cannot read {path}: the file is empty")
    delimiter = _sniff_delimiter(text)
    try:
        records = list(itertools.islice(_records(text, delimiter), sample_rows + 1))
    except csv.Error as exc:
        raise IngestError(f"cannot read {path} as CSV: {exc}") from exc
    header = records[0]
    if all(not h.strip() for h in header) or all(_looks_like_data(h) for h in header):
        raise IngestError(
            f"cannot read {path}: no header row (the first row is "
            f"{'empty' if all(not h.strip() for h in header) else 'data'})"
        )
    body = records[1:]
    if not eof and len(body) < sample_rows and body:
        body = body[:-1]  # the last record may have been cut off
    originals = [h.strip() for h in header]
    width = len(originals)
    rows = [(r + [""] * width)[:width] for r in body]
    return _Sample("csv", _unique(originals), originals, rows, delimiter, encoding)


def _json_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def _read_jsonl(path: Path, gz: bool, sample_rows: int) -> _Sample:
    data, _ = _read_head(path, gz, sample_rows + 1)
    if not data.strip():
        raise IngestError(f"cannot read {path}: the file is empty")
    text, encoding = _decode(data)
    objects: list[dict] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if not objects:
                raise IngestError(f"cannot read {path} as JSON lines: {exc}") from exc
            continue
        if not isinstance(obj, dict):
            raise IngestError(f"cannot read {path} as JSON lines: a line is not a JSON object")
        objects.append(obj)
        if len(objects) >= sample_rows:
            break
    keys: dict[str, None] = {}
    for obj in objects:
        keys.update(dict.fromkeys(obj))
    names = list(keys)
    if not names:
        raise IngestError(f"cannot read {path}: no field names (no header) in the JSON lines")
    rows = [[_json_text(obj.get(k)) for k in names] for obj in objects]
    return _Sample("jsonl", names, names, rows, None, encoding)


def _read_parquet(path: Path, sample_rows: int) -> tuple[_Sample, set[str]]:
    try:
        df = pl.read_parquet(path, n_rows=sample_rows, glob=False)
    except Exception as exc:  # Polars / Arrow raise several kinds for unreadable files
        raise IngestError(f"cannot read {path} as Parquet: {exc}") from exc
    if not df.columns:
        raise IngestError(f"cannot read {path}: the Parquet file has no columns (no header)")
    temporal = {c for c, t in df.schema.items() if t.is_temporal() and t != pl.Duration}
    cols = []
    for name in df.columns:
        s = df[name]
        cols.append([None if v is None else (v if isinstance(v, str) else str(v)) for v in s])
    rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
    return _Sample("parquet", list(df.columns), list(df.columns), rows), temporal


def _read_excel(path: Path, sample_rows: int) -> tuple[_Sample, set[str]]:
    """The first sheet of a workbook: date cells are typed timestamps, the rest text."""
    from ...io.excel import excel_sheets, read_excel_sheet

    sheets = excel_sheets(path)
    df = read_excel_sheet(path, None).head(sample_rows)
    temporal = {c for c, t in df.schema.items() if t.is_temporal()}
    cols = []
    for name in df.columns:
        cols.append(
            [None if v is None else (v if isinstance(v, str) else str(v)) for v in df[name]]
        )
    rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
    names = list(df.columns)
    return _Sample("excel", names, names, rows, sheet=sheets[0] if sheets else None), temporal


def _read_sample(path: Path, sample_rows: int) -> tuple[_Sample, set[str]]:
    """The header and first ``sample_rows`` rows, and the names of typed datetime columns."""
    if not path.exists():
        raise IngestError(f"cannot read {path}: no such file")
    if not path.is_file():
        raise IngestError(f"cannot read {path}: not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    if not head:
        raise IngestError(f"cannot read {path}: the file is empty")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        from ...io.detect import KIND_NAMES, sniff_file

        found = sniff_file(path)
        if found in ("xlsx", "xls"):
            return _read_excel(path, sample_rows)
        raise IngestError(
            f"cannot read {path}: the content is {KIND_NAMES.get(found, found)}; unzip it and "
            "run `dispatch profile-template` on the export inside"
        )
    kind, gz = _kind(path, head)
    if kind == "parquet":
        return _read_parquet(path, sample_rows)
    if kind == "jsonl":
        return _read_jsonl(path, gz, sample_rows), set()
    return _read_csv(path, gz, sample_rows), set()
