"""Cutting a CSV file into byte blocks at record boundaries (newlines outside quotes), so each
block can be parsed on its own and memory holds one block whatever the file size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["record_blocks"]

_QUOTE = ord('"')
_HEADER_READ = 64 * 1024


def record_blocks(fh: BinaryIO, block_bytes: int, quote: int = _QUOTE) -> Iterator[bytes]:
    """The data records of a CSV file, about ``block_bytes`` at a time; the header is skipped.

    Parameters
    ----------
    fh : binary file
        Opened at the start of the file.
    block_bytes : int
        How much is read at a time; a block holds whole records only (a record longer than
        this makes a longer block).
    quote : int
        The quote byte; newlines inside quotes do not end a record.

    Yields
    ------
    bytes
        Consecutive blocks of whole records; blank blocks (a lone line break) are left out.
    """
    carry = _skip_header(fh, quote)
    while True:
        data = fh.read(block_bytes)
        buf = carry + data
        if not buf:
            break
        cut = len(buf) if not data else _last_record_end(buf, quote)
        if cut == 0:  # one record longer than a block: read on
            carry = buf
            continue
        block, carry = buf[:cut], buf[cut:]
        if len(block) <= 2 and not block.strip():
            continue
        yield block


def _last_record_end(buf: bytes, quote: int) -> int:
    """Offset just past the last newline that ends a record (outside quotes), or 0."""
    q = bytes([quote])
    pos = buf.rfind(b"\n")
    if pos < 0 or q not in buf:
        return pos + 1
    quotes_before = buf.count(q, 0, pos)
    while pos >= 0 and quotes_before % 2:
        prev = buf.rfind(b"\n", 0, pos)
        quotes_before -= buf.count(q, prev + 1 if prev >= 0 else 0, pos)
        pos = prev
    return pos + 1


def _skip_header(fh: BinaryIO, quote: int) -> bytes:
    """Consume the header record; return what was read past it."""
    buf = b""
    while True:
        data = fh.read(_HEADER_READ)
        buf += data
        end = _first_record_end(buf, quote)
        if end:
            return buf[end:]
        if not data:
            return b""


def _first_record_end(buf: bytes, quote: int) -> int:
    """Offset just past the first newline outside quotes, or 0."""
    q = bytes([quote])
    pos = buf.find(b"\n")
    while pos >= 0 and buf.count(q, 0, pos) % 2:
        pos = buf.find(b"\n", pos + 1)
    return pos + 1
