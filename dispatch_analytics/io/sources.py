"""Reading raw source files (CSV in any delimiter / encoding, gzip, Parquet, JSON lines).

A :class:`SourceFile` yields the raw rows in chunks as Polars frames with a 1-based
``source_row`` (the data row number; the header is row 0), so memory stays bounded
whatever the file size.
"""

from __future__ import annotations

import codecs
import csv
import glob as globmod
import gzip
import hashlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import IngestError
from .csv_blocks import record_blocks

__all__ = ["SourceFile", "expand_paths", "unique_names", "ROW_COL"]

ROW_COL = "source_row"
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


def _is_utf8(fh) -> bool:
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := fh.read(_READ):
            if not chunk.isascii():
                dec.decode(chunk)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _kind(path: Path) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] in (".gz", ".gzip")
    if gz:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq"):
        kind = "parquet"
    elif last in (".jsonl", ".ndjson", ".json"):
        kind = "ndjson"
    else:
        kind = "csv"
    return kind, gz


@dataclass
class SourceFile:
    """One input file, hashed and (when needed) normalised to UTF-8 in a work folder.

    Parameters
    ----------
    path : Path
        The file as the user named it.
    work_dir : Path
        A scratch folder for a decompressed / transcoded copy.
    delimiter, encoding, null_values
        From the source profile; ``delimiter=None`` sniffs it, ``encoding='auto'`` takes
        UTF-8 (with or without BOM) and falls back to cp1252, then Latin-1.
    """

    path: Path
    work_dir: Path
    delimiter: str | None = None
    encoding: str = "auto"
    null_values: tuple[str, ...] = ("",)
    sha256: str = ""
    file_bytes: int = 0
    kind: str = "csv"
    encoding_used: str = "utf-8"
    columns: list[str] = field(default_factory=list)
    _read_path: Path | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.kind, gz = _kind(self.path)
        self.file_bytes = self.path.stat().st_size
        if self.file_bytes == 0:
            raise IngestError(f"{self.path}: the file is empty")
        try:
            if self.kind == "csv":
                self._prepare_csv(gz)
            else:
                self._hash_only()
                self._read_path = self.path
                if gz:
                    self._read_path = self.work_dir / (self.path.stem or "data")
                    with gzip.open(self.path, "rb") as src, open(self._read_path, "wb") as dst:
                        shutil.copyfileobj(src, dst, _READ)
                self.columns = list(self._scan().collect_schema().names())
                self.columns = [c for c in self.columns if c != ROW_COL]
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise IngestError(f"{self.path}: cannot read: {exc}") from exc
        except pl.exceptions.PolarsError as exc:
            raise IngestError(f"{self.path}: cannot read as {self.kind}: {exc}") from exc

    # ------------------------------------------------------------------ prepare
    def _hash_only(self) -> None:
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            while chunk := fh.read(_READ):
                h.update(chunk)
        self.sha256 = h.hexdigest()

    def _prepare_csv(self, gz: bool) -> None:
        """Hash the file and find its encoding in one pass; transcode only when needed."""
        want = self.encoding
        h = hashlib.sha256()
        dec = codecs.getincrementaldecoder("utf-8")()
        utf8_ok = want in ("auto", "utf-8")
        with open(self.path, "rb") as fh:
            while chunk := fh.read(_READ):
                h.update(chunk)
                if utf8_ok and not gz and not chunk.isascii():
                    try:
                        dec.decode(chunk)
                    except UnicodeDecodeError:
                        utf8_ok = False
        self.sha256 = h.hexdigest()
        if utf8_ok and gz:
            with gzip.open(self.path, "rb") as fh:
                utf8_ok = _is_utf8(fh)
        elif utf8_ok:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
        if want == "utf-8" and not utf8_ok:
            raise IngestError(
                f"{self.path}: `encoding` is utf-8 but the file is not valid UTF-8; "
                "set encoding = 'cp1252' (or 'auto') in [source]"
            )
        if utf8_ok and not gz:
            self.encoding_used = "utf-8"
            self._read_path = self.path
        else:
            enc = "utf-8" if utf8_ok else (want if want != "auto" else self._guess_8bit(gz))
            self.encoding_used = enc
            self._read_path = self.work_dir / (self.path.name + ".utf8.csv")
            opener = gzip.open if gz else open
            with opener(self.path, "rb") as src, open(self._read_path, "wb") as dst:
                txt = io.TextIOWrapper(src, encoding=enc, newline="")
                while block := txt.read(_READ):
                    dst.write(block.encode("utf-8"))
        self._read_header()

    def _guess_8bit(self, gz: bool) -> str:
        opener = gzip.open if gz else open
        try:
            with opener(self.path, "rb") as fh:
                while chunk := fh.read(_READ):
                    chunk.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"

    def _read_header(self) -> None:
        with open(self._prepared, encoding="utf-8-sig", newline="") as fh:
            sample = fh.read(64 * 1024)
        if not sample.strip():
            raise IngestError(f"{self.path}: the file has no header row")
        if self.delimiter is None:
            first = sample.splitlines()[0] if sample.splitlines() else sample
            try:
                self.delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
            except csv.Error:
                self.delimiter = ","
        header = next(csv.reader(io.StringIO(sample), delimiter=self.delimiter))
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
        if self.kind == "parquet":
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
        if self.kind == "parquet":
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
        schema = {c: pl.String for c in self.columns}
        first_row = 1
        with open(self._prepared, "rb") as fh:
            for block in record_blocks(fh, block_bytes):
                try:
                    df = pl.read_csv(
                        io.BytesIO(block),
                        has_header=False,
                        schema=schema,
                        separator=self.delimiter or ",",
                        null_values=list(self.null_values) or None,
                        encoding="utf8",
                        raise_if_empty=False,
                    )
                except pl.exceptions.PolarsError as exc:
                    msg = str(exc).strip().splitlines()[0]
                    raise IngestError(
                        f"{self.path}: cannot parse CSV in data rows from {first_row} on "
                        f"(a row with more fields than the header, or a broken quote?): {msg}"
                    ) from exc
                if df.height:
                    df = df.with_columns(
                        pl.int_range(first_row, first_row + df.height, dtype=pl.Int64).alias(
                            ROW_COL
                        )
                    ).select([ROW_COL, *self.columns])
                    first_row += df.height
                    yield df
