"""Reading raw source files (CSV in any delimiter / encoding, gzip, Parquet, JSON lines).

A :class:`SourceFile` yields the raw rows in chunks as Polars frames with a 1-based
``source_row`` (the data row number; the header is row 0), so memory stays bounded
whatever the file size.
"""

from __future__ import annotations

import csv
import glob as globmod
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import IngestError
from .csv_blocks import header_record, record_blocks
from .csv_rows import READ_COLUMNS, READ_DETAIL, READ_RAW, READ_REASON, ROW_COL, parse_block
from .detect import resolve_source
from .encoding import choose_encoding, scan_text, transcode
from .excel import read_excel_sheet

__all__ = [
    "SourceFile",
    "expand_paths",
    "unique_names",
    "ROW_COL",
    "READ_REASON",
    "READ_DETAIL",
    "READ_RAW",
    "READ_COLUMNS",
]
_READ = 8 * 1024 * 1024


def expand_paths(patterns: list[str]) -> list[Path]:
    """Expand file arguments and globs; raise :class:`IngestError` for those matching nothing."""
    out: list[Path] = []
    missing = []
    for pat in patterns:
        if any(ch in pat for ch in "*?["):
            hits = sorted(globmod.glob(pat, recursive=True))
            if not hits:
                missing.append(f"{pat} (glob matched no file)")
            out.extend(Path(h) for h in hits if Path(h).is_file())
        else:
            p = Path(pat)
            if not p.is_file():
                missing.append(f"{pat} (no such file)")
            else:
                out.append(p)
    if missing:
        raise IngestError("cannot read input: " + "; ".join(missing))
    seen, uniq = set(), []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique: the 2nd column called NAME becomes ``NAME#2`` and so on."""
    counts: dict[str, int] = {}
    out = []
    for n in names:
        n = n.strip()
        counts[n] = counts.get(n, 0) + 1
        out.append(n if counts[n] == 1 else f"{n}#{counts[n]}")
    return out


@dataclass
class SourceFile:
    """One input file, hashed, its kind found from its content, and (when needed) unpacked or
    transcoded to UTF-8 in a work folder.

    Parameters
    ----------
    path : Path
        The file as the user named it.
    work_dir : Path
        A scratch folder for a decompressed / extracted / transcoded copy.
    delimiter, encoding, null_values, sheet
        From the source profile; ``delimiter=None`` sniffs it; ``encoding='auto'`` reads
        UTF-8 (rows with invalid bytes rejected as ``bad_encoding``) unless the file holds no
        valid multi-byte UTF-8 at all, then cp1252 (see :mod:`.encoding`); ``sheet`` picks an
        Excel sheet (default the first).
    """

    path: Path
    work_dir: Path
    delimiter: str | None = None
    encoding: str = "auto"
    null_values: tuple[str, ...] = ("",)
    sheet: str | None = None
    sha256: str = ""
    file_bytes: int = 0
    kind: str = "csv"
    encoding_used: str = "utf-8"
    #: a sentence for the ingest summary when the encoding needs saying (else None)
    encoding_note: str | None = None
    #: what was unpacked on the way (["gzip"], ["zip member 'calls.csv'"])
    unpacked: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    _read_path: Path | None = None
    _check_utf8: bool = False

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.file_bytes = self.path.stat().st_size
        if self.file_bytes == 0:
            raise IngestError(f"{self.path}: the file is empty")
        try:
            self._hash_only()
            resolved = resolve_source(self.path, self.work_dir)
            self.kind, self.unpacked = resolved.kind, resolved.unpacked
            if self.kind == "csv":
                self._prepare_csv(resolved.path)
                return
            self._read_path = resolved.path
            if self.kind == "excel":
                self._read_path = self.work_dir / "sheet.parquet"
                frame = read_excel_sheet(resolved.path, self.sheet, shown_as=self.path)
                frame.write_parquet(self._read_path)
            self.columns = list(self._scan().collect_schema().names())
            self.columns = [c for c in self.columns if c != ROW_COL]
        except (OSError, EOFError) as exc:
            raise IngestError(f"{self.path}: cannot read: {exc}") from exc
        except pl.exceptions.PolarsError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IngestError(f"{self.path}: cannot read as {self.kind}: {msg}") from exc

    # ------------------------------------------------------------------ prepare
    def _hash_only(self) -> None:
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            while chunk := fh.read(_READ):
                h.update(chunk)
        self.sha256 = h.hexdigest()

    def _prepare_csv(self, text_path: Path) -> None:
        """Find the encoding and line ends; transcode only when needed; read the header."""
        scan = scan_text(text_path)
        enc, self.encoding_note = choose_encoding(scan, self.encoding)
        self.encoding_used = enc
        self._check_utf8 = enc == "utf-8" and not scan.utf8_valid
        if scan.cr_only:
            self.encoding_note = " ".join(
                x
                for x in (self.encoding_note, "line ends are CR only (old Mac): read as lines")
                if x
            )
        if enc == "utf-8" and not scan.cr_only:
            self._read_path = text_path
        else:
            self._read_path = self.work_dir / "text.utf8.csv"
            transcode(text_path, self._read_path, enc, scan.cr_only)
        self._read_header()

    def _read_header(self) -> None:
        with open(self._prepared, "rb") as fh:
            raw = header_record(fh)
        first = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
        if not first.strip():
            raise IngestError(
                f"{self.path}: the first line is blank; the first row must be the header "
                "(column names)"
            )
        if self.delimiter is None:
            try:
                self.delimiter = csv.Sniffer().sniff(first[:65536], delimiters=",;\t|").delimiter
            except csv.Error:
                self.delimiter = ","
        try:
            header = next(csv.reader([first], delimiter=self.delimiter, strict=False), [])
        except csv.Error as exc:
            raise IngestError(f"{self.path}: cannot read the header row: {exc}") from exc
        if not header or all(not h.strip() for h in header):
            raise IngestError(f"{self.path}: the first row is not a header")
        self.columns = unique_names(header)

    # ------------------------------------------------------------------ reading
    @property
    def _prepared(self) -> Path:
        """The file to read (the original or its UTF-8 / decompressed copy)."""
        if self._read_path is None:
            raise IngestError(f"{self.path}: the file was not prepared for reading")
        return self._read_path

    def _scan(self) -> pl.LazyFrame:
        if self.kind in ("parquet", "excel"):
            return pl.scan_parquet(self._prepared).with_row_index(ROW_COL, offset=1)
        if self.kind == "ndjson":
            return pl.scan_ndjson(self._prepared, infer_schema_length=10000).with_row_index(
                ROW_COL, offset=1
            )
        return pl.scan_csv(
            self._prepared,
            has_header=False,
            skip_rows=1,
            separator=self.delimiter or ",",
            schema={c: pl.String for c in self.columns},
            null_values=list(self.null_values) or None,
            row_index_name=ROW_COL,
            row_index_offset=1,
            encoding="utf8",
            truncate_ragged_lines=False,
        )

    def estimate_rows(self) -> int | None:
        """A rough row count for progress bars (CSV: from the first megabyte)."""
        if self.kind in ("parquet", "excel"):
            return pl.scan_parquet(self._prepared).select(pl.len()).collect().item()
        size = self._prepared.stat().st_size
        with open(self._prepared, "rb") as fh:
            head = fh.read(1024 * 1024)
        lines = head.count(b"\n")
        if lines <= 1:
            return 1
        return max(1, int(size / (len(head) / lines)) - 1)

    def chunks(self, chunk_rows: int = 250_000) -> Iterator[pl.DataFrame]:
        """The raw rows, about ``chunk_rows`` at a time, with ``source_row``.

        CSV is cut into byte blocks at record boundaries (newlines outside quotes) and each
        block is parsed on its own, so memory holds one block whatever the file size.
        """
        try:
            if self.kind == "csv":
                yield from self._csv_chunks(chunk_rows)
                return
            for df in self._scan().collect_batches(chunk_size=chunk_rows):
                if df.height:
                    yield df.with_columns(pl.col(ROW_COL).cast(pl.Int64))
        except pl.exceptions.PolarsError as exc:
            msg = str(exc).strip().splitlines()[0]
            raise IngestError(f"{self.path}: cannot parse {self.kind}: {msg}") from exc

    def _csv_chunks(self, chunk_rows: int) -> Iterator[pl.DataFrame]:
        est = self.estimate_rows() or 1
        size = self._prepared.stat().st_size
        block_bytes = max(64 * 1024, int(chunk_rows * size / max(est, 1)))
        first_row = 1
        with open(self._prepared, "rb") as fh:
            for offset, block in record_blocks(fh, block_bytes):
                df, n = parse_block(
                    block,
                    offset,
                    first_row,
                    self.columns,
                    self.delimiter or ",",
                    self.null_values,
                    self._check_utf8,
                )
                first_row += n
                if df.height:
                    yield df
