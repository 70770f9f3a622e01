"""What a file is, from its content (never its name), and unpacking gzip / zip containers.

:func:`sniff` names the kind of a file from its first bytes (magic numbers, then text
checks); :func:`resolve_source` unpacks a gzip stream or a zip archive holding one file into a
work folder and returns the readable file and its kind: ``csv``, ``parquet``, ``ndjson`` or
``excel``. Anything else (PDF, a zip of several files, binary data, UTF-16 text, ...) raises
:class:`~dispatch_analytics.errors.IngestError` naming the kind found and what to do.
"""

from __future__ import annotations

import gzip
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IngestError

__all__ = ["KIND_NAMES", "Resolved", "sniff", "sniff_file", "resolve_source"]

_HEAD = 64 * 1024
_COPY = 8 * 1024 * 1024

#: Every kind :func:`sniff` can return, as people call it.
KIND_NAMES: dict[str, str] = {
    "gzip": "a gzip-compressed file",
    "zip": "a zip archive",
    "xlsx": "an Excel workbook (.xlsx)",
    "xls": "a legacy Excel workbook (.xls, OLE2)",
    "ods": "an OpenDocument spreadsheet (.ods)",
    "docx": "a Word document",
    "pdf": "a PDF document",
    "parquet": "a Parquet file",
    "sqlite": "an SQLite database",
    "utf16": "UTF-16 text",
    "binary": "binary data (not text)",
    "json_array": "a JSON array (not JSON lines)",
    "ndjson": "JSON lines",
    "csv": "delimited text (CSV)",
}

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"%PDF", "pdf"),
    (b"PAR1", "parquet"),
    (b"SQLite format 3\x00", "sqlite"),
    (b"\xff\xfe", "utf16"),
    (b"\xfe\xff", "utf16"),
)
#: bytes that never occur in text (all C0 controls but tab, LF, FF, CR, and ESC / SUB)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 26, 27))


def sniff(head: bytes) -> str:
    """The kind of a file from its first bytes (a key of :data:`KIND_NAMES`).

    Parameters
    ----------
    head : bytes
        The first bytes of the file (64 KiB is plenty).

    Returns
    -------
    str
        ``gzip``, ``zip``, ``xls``, ``pdf``, ``parquet``, ``sqlite``, ``utf16``, ``binary``,
        ``json_array``, ``ndjson`` or ``csv``. A zip is not looked into (see :func:`resolve_source`).
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        # UTF-16 without a BOM: every other byte NUL
        if head[1::2].count(0) > len(head) // 3 or head[0::2].count(0) > len(head) // 3:
            return "utf16"
        return "binary"
    controls = sum(head.count(bytes([c])) for c in _CONTROL)
    if head and controls > max(2, len(head) // 100):
        return "binary"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"{":
        return "ndjson"
    if text[:1] == b"[" and text[1:2] in (b"{", b"\n", b"\r", b" ", b"]"):
        return "json_array"
    return "csv"


def sniff_file(path: Path) -> str:
    """:func:`sniff` of a file's first 64 KiB; a zip is told apart (xlsx, ods, docx, zip)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    kind = sniff(head)
    if kind == "zip":
        kind = _zip_kind(path)
    return kind


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "xlsx"
    if "word/document.xml" in names:
        return "docx"
    if "content.xml" in names and "mimetype" in names:
        return "ods"
    return "zip"


@dataclass
class Resolved:
    """A source file made readable: the file to read, its kind, and how it was unpacked."""

    path: Path
    kind: str  # csv, parquet, ndjson, excel
    #: e.g. ["gzip"], ["zip: calls.csv"]: what was unpacked on the way
    unpacked: list[str] = field(default_factory=list)


def _refuse(path: Path, kind: str, how: str = "") -> IngestError:
    name = KIND_NAMES.get(kind, kind)
    fixes = {
        "pdf": "export the data from the CAD as CSV or Excel; a PDF report cannot be read",
        "docx": "export the data as CSV or Excel",
        "sqlite": "export the table as CSV or Parquet (e.g. `sqlite3 -csv`)",
        "utf16": "save it as UTF-8 CSV (in Excel: 'CSV UTF-8'), or convert with "
        "`iconv -f UTF-16 -t UTF-8`",
        "binary": "check that this is the export (not a database file or a damaged "
        "download) and export it as CSV, Excel or Parquet",
        "json_array": "write one JSON object per line (JSON lines), e.g. with "
        "`jq -c '.[]' FILE > FILE.jsonl`",
        "ods": "save it as .xlsx or CSV",
    }
    fix = fixes.get(kind, "export it as CSV, Excel, Parquet or JSON lines")
    return IngestError(f"{path}: the content is {name}{how}, which cannot be read; {fix}")


def resolve_source(path: Path, work_dir: Path) -> Resolved:
    """The readable file inside ``path``: gzip decompressed, a zip's one file extracted.

    Parameters
    ----------
    path : Path
        The file as the user named it (its name is not trusted: the content decides).
    work_dir : Path
        Where decompressed / extracted copies go.

    Returns
    -------
    Resolved

    Raises
    ------
    IngestError
        A kind that cannot be read, a zip of several (or no) files, a damaged container.
    """
    unpacked: list[str] = []
    current = path
    for _ in range(3):  # gzip inside zip, zip inside gzip: a few levels at most
        kind = sniff_file(current)
        how = f" (inside {', '.join(unpacked)})" if unpacked else ""
        if kind in ("csv", "parquet", "ndjson"):
            return Resolved(current, kind, unpacked)
        if kind in ("xlsx", "xls"):
            return Resolved(current, "excel", unpacked)
        if kind == "gzip":
            current = _gunzip(path, current, work_dir)
            unpacked.append("gzip")
        elif kind == "zip":
            current, member = _unzip(path, current, work_dir)
            unpacked.append(f"zip member {member!r}")
        else:
            raise _refuse(path, kind, how)
    raise IngestError(f"{path}: containers nested too deep ({', '.join(unpacked)}); unpack it")


def _gunzip(path: Path, current: Path, work_dir: Path) -> Path:
    out = work_dir / f"gunzip-{len(list(work_dir.iterdir()))}"
    try:
        with gzip.open(current, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, _COPY)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(
            f"{path}: the content is a gzip-compressed file, but it cannot be decompressed "
            f"({exc}); download it again or check it with `gzip -t`"
        ) from exc
    if out.stat().st_size == 0:
        raise IngestError(f"{path}: the gzip-compressed file is empty")
    return out


def _unzip(path: Path, current: Path, work_dir: Path) -> tuple[Path, str]:
    try:
        with zipfile.ZipFile(current) as zf:
            members = [
                i
                for i in zf.infolist()
                if not i.is_dir()
                and not i.filename.startswith("__MACOSX/")
                and not Path(i.filename).name.startswith(".")
            ]
            if len(members) != 1:
                listed = ", ".join(repr(m.filename) for m in members[:5])
                more = f" and {len(members) - 5} more" if len(members) > 5 else ""
                what = f"{len(members)} files ({listed}{more})" if members else "no file"
                raise IngestError(
                    f"{path}: the content is a zip archive holding {what}; only a zip of "
                    "exactly one file is read: unzip it and ingest the files you want "
                    "(e.g. `dispatch ingest 'folder/*.csv' ...`)"
                )
            out = work_dir / f"unzip-{len(list(work_dir.iterdir()))}"
            with zf.open(members[0]) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY)
            return out, members[0].filename
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise IngestError(
            f"{path}: the content is a zip archive, but it cannot be read ({exc}); "
            "download it again or unzip it by hand"
        ) from exc
