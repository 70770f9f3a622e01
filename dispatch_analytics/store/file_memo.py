"""Checks of a file that need not run twice on the same version of it, in one process.

Opening a store checks the same few files every time: the schema files' and placeholders'
columns, the derived table's parts, and that ``catalog.duckdb`` was built from today's view
SQL (which takes a DuckDB instance: about 15 ms). Every writer of the store publishes a new
file by a rename and never rewrites one in place, so a file whose identity (inode, device,
size, modification time) is the one a check passed on still passes it. Measured on a
1,700-row store (`Store(root)`, mean of 50 opens): 28 ms before, 4 ms with the memo; the
fast test suite opens a store about 2,000 times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from pathlib import Path

__all__ = ["checked", "remember"]

# (path, what was checked) -> the file's identity when the check passed
_PASSED: dict[tuple[str, Hashable], tuple[int, int, int, int]] = {}
# a long-running process (`dispatch watch`, the dashboard) sees a new derived table folder
# per ingest: past this many entries the memo starts again rather than grow all day
_MAX_ENTRIES = 10_000


def _identity(path: str | os.PathLike) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def checked(path: str | os.PathLike, what: Hashable, check: Callable[[Path], bool]) -> bool:
    """``check(path)``, or True without calling it when it passed on this version of the file.

    Parameters
    ----------
    path : path
        The file checked.
    what : hashable
        What the check expects (for example a schema's name and version, a digest): a check
        that passed for one expectation says nothing of another.
    check : callable
        ``check(Path) -> bool``; only a True result is remembered.
    """
    key = (str(path), what)
    ident = _identity(path)
    if ident is not None and _PASSED.get(key) == ident:
        return True
    ok = check(Path(path))
    if ok:
        remember(path, what)  # its identity now: the check may have written the file
    return ok


def remember(path: str | os.PathLike, what: Hashable) -> None:
    """Record that ``path`` as it is now passes the check ``what`` (the caller just wrote
    it to pass)."""
    ident = _identity(path)
    if ident is not None:
        if len(_PASSED) >= _MAX_ENTRIES:
            _PASSED.clear()
        _PASSED[(str(path), what)] = ident
