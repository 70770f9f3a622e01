"""Work on a file that need not run twice on the same version of it, in one process.

Opening a store checks the same few files every time: the schema files' and placeholders'
columns, the derived table's parts, and that ``catalog.duckdb`` was built from today's view
SQL (which takes a DuckDB instance: about 15 ms). Every writer of the store publishes a new
file by a rename and never rewrites one in place, so a file whose identity (inode, device,
size, modification time) is the one a check passed on still passes it. Measured on a
1,700-row store (`Store(root)`, mean of 50 opens): 28 ms before, 1 ms with the memo; the
fast test suite opens a store about 2,000 times. :func:`cached` keeps any other result of
reading a file the same way (the saved queries' headers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["cached", "checked", "remember"]

T = TypeVar("T")

# (path, what was computed) -> (the file's identity when it was, the result)
_MEMO: dict[tuple[str, Hashable], tuple[tuple[int, int, int, int], Any]] = {}
# a long-running process (`dispatch watch`, the dashboard) sees a new derived table folder
# per ingest: past this many entries the memo starts again rather than grow all day
_MAX_ENTRIES = 10_000


def _identity(path: str | os.PathLike) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def _keep(path: str | os.PathLike, what: Hashable, value: Any) -> None:
    ident = _identity(path)  # its identity now: computing may have written the file
    if ident is not None:
        if len(_MEMO) >= _MAX_ENTRIES:
            _MEMO.clear()
        _MEMO[(str(path), what)] = (ident, value)


def cached(
    path: str | os.PathLike,
    what: Hashable,
    compute: Callable[[Path], T],
    keep: Callable[[T], bool] = lambda value: True,
) -> T:
    """``compute(path)``, or its result for this version of the file when computed before.

    Parameters
    ----------
    path : path
        The file read.
    what : hashable
        What is computed (for example a schema's name, a digest): a result for one says
        nothing of another.
    compute : callable
        ``compute(Path) -> value``.
    keep : callable
        Whether to remember a value (a missing file's is never remembered).
    """
    ident = _identity(path)
    hit = _MEMO.get((str(path), what))
    if ident is not None and hit is not None and hit[0] == ident:
        return hit[1]
    value = compute(Path(path))
    if keep(value):
        _keep(path, what, value)
    return value


def checked(path: str | os.PathLike, what: Hashable, check: Callable[[Path], bool]) -> bool:
    """``check(path)``, or True without calling it when it passed on this version of the
    file: :func:`cached` remembering only a pass."""
    return cached(path, what, check, keep=bool)


def remember(path: str | os.PathLike, what: Hashable) -> None:
    """Record that ``path`` as it is now passes the check ``what`` (the caller just wrote
    it to pass)."""
    _keep(path, what, True)
