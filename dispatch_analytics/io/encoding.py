"""The encoding and line endings of a text file, found from its bytes (never guessed).

:func:`scan_text` reads a file once: is it valid UTF-8; if not, how many bytes are invalid and
does it hold any valid multi-byte UTF-8 at all (then it is UTF-8 with a few bad bytes, not an
8-bit file); are its lines ended by CR alone. :func:`choose_encoding` turns that and the
profile's ``encoding`` into the encoding to read with, and a note for the ingest summary.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TextScan", "scan_text", "choose_encoding", "invalid_utf8_offsets", "transcode"]

_READ = 8 * 1024 * 1024
#: a valid multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates)
_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_EIGHT_BIT = ("cp1252", "latin-1")


@dataclass
class TextScan:
    """What one pass over a text file found."""

    utf8_valid: bool
    invalid_bytes: int
    multibyte: int  # valid multi-byte UTF-8 sequences
    cr_only: bool  # CR line ends and no LF at all
    cp1252_ok: bool  # decodes as cp1252 (the 5 undefined bytes absent)


def _count_errors(decoder, data: bytes, final: bool = False) -> int:
    """Invalid bytes in ``data`` (fed to an incremental UTF-8 decoder)."""
    bad = 0
    while True:
        try:
            decoder.decode(data, final=final)
            return bad
        except UnicodeDecodeError as exc:
            bad += exc.end - exc.start
            data = data[exc.end :]
            decoder.reset()
            if not data:
                return bad


def scan_text(path: Path) -> TextScan:
    """Scan a text file: UTF-8 validity, invalid bytes, multi-byte sequences, line ends.

    Parameters
    ----------
    path : Path

    Returns
    -------
    TextScan
    """
    dec = codecs.getincrementaldecoder("utf-8")()
    bad = multi = 0
    has_lf = has_cr = False
    cp_ok = True
    undefined = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ):
            has_lf = has_lf or b"\n" in chunk
            has_cr = has_cr or b"\r" in chunk
            if chunk.isascii():
                continue
            bad += _count_errors(dec, chunk)
            multi += len(_MULTIBYTE.findall(chunk))
            cp_ok = cp_ok and not undefined.search(chunk)
    bad += _count_errors(dec, b"", final=True)
    return TextScan(bad == 0, bad, multi, has_cr and not has_lf, cp_ok)


def choose_encoding(scan: TextScan, wanted: str) -> tuple[str, str | None]:
    """The encoding to read a file in, and a note for the ingest summary (or None).

    * ``wanted`` 8-bit (cp1252, latin-1): that encoding.
    * valid UTF-8: UTF-8.
    * ``wanted`` auto and not a single valid multi-byte UTF-8 sequence: a wholly 8-bit file,
      read as cp1252 (latin-1 when cp1252 cannot decode it), with a note saying so.
    * otherwise UTF-8; the rows holding invalid bytes are rejected as ``bad_encoding``.

    Parameters
    ----------
    scan : TextScan
    wanted : str
        The profile's ``encoding``: auto, utf-8, cp1252 or latin-1.

    Returns
    -------
    encoding : str
        ``utf-8``, ``cp1252`` or ``latin-1``.
    note : str or None
    """
    if wanted in _EIGHT_BIT:
        return wanted, None
    if scan.utf8_valid:
        return "utf-8", None
    if wanted == "auto" and scan.multibyte == 0:
        enc = "cp1252" if scan.cp1252_ok else "latin-1"
        return enc, (
            f"read as {enc}: the file is not UTF-8 ({scan.invalid_bytes:,} bytes invalid, no "
            "valid multi-byte UTF-8 at all); set `encoding` in [source] to be explicit"
        )
    return "utf-8", (
        f"read as UTF-8 with {scan.invalid_bytes:,} invalid bytes: their rows are rejected as "
        "bad_encoding (set encoding = 'cp1252' in [source] if the file is really 8-bit)"
    )


_FOUND: list[int] = []


def _collect(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):  # pragma: no cover - registered for decoding
        raise exc
    _FOUND.append(exc.start)
    return "\ufffd", exc.end


codecs.register_error("dispatch_analytics_collect", _collect)


def invalid_utf8_offsets(data: bytes) -> list[int]:
    """Offsets of the invalid UTF-8 sequences in ``data`` (empty when it is valid)."""
    if data.isascii():
        return []
    _FOUND.clear()
    data.decode("utf-8", errors="dispatch_analytics_collect")
    out = list(_FOUND)
    _FOUND.clear()
    return out


def transcode(src: Path, dst: Path, encoding: str, cr_only: bool) -> None:
    """Write ``src`` as UTF-8 to ``dst`` (from ``encoding``; CR line ends made LF)."""
    dec = codecs.getincrementaldecoder(encoding)(errors="replace")
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(_READ):
            if cr_only:
                chunk = chunk.replace(b"\r", b"\n")
            if encoding == "utf-8":
                fo.write(chunk)
            else:
                fo.write(dec.decode(chunk).encode("utf-8"))
        if encoding != "utf-8":
            fo.write(dec.decode(b"", final=True).encode("utf-8"))
