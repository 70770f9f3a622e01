"""Who may read the store's files: created 0600 (folders 0700) unless configured otherwise.

The store holds raw call rows with addresses. Every file the store, the spatial layer and
the command line create (batches, derived tables, spatial files, the catalog, exports, logs)
is made under a umask derived from ``$DISPATCH_FILE_MODE`` (octal, default ``600``; folders
get the matching execute bits: ``640`` -> folders ``750``). The command line sets it for the
whole process; library writers (:meth:`Store.write_lock`, the spatial lock) set it while they
write and restore the caller's umask afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import StoreError

__all__ = [
    "DEFAULT_FILE_MODE",
    "file_mode",
    "dir_mode",
    "store_umask",
    "private_files",
    "apply_file_mode",
]

DEFAULT_FILE_MODE = 0o600


def file_mode() -> int:
    """The mode of new files: ``$DISPATCH_FILE_MODE`` (octal, e.g. ``640``), else 0600.

    Raises
    ------
    StoreError
        The variable is not an octal mode that lets the owner read and write.
    """
    text = os.environ.get("DISPATCH_FILE_MODE", "").strip()
    if not text:
        return DEFAULT_FILE_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
        raise StoreError(
            f"`DISPATCH_FILE_MODE` {text!r} must be an octal file mode the owner can read and "
            "write, e.g. 600 (owner only, the default) or 640 (and the group may read)"
        )
    return mode & 0o666


def dir_mode(mode: int | None = None) -> int:
    """The mode of new folders for file mode ``mode``: execute wherever read is allowed."""
    mode = file_mode() if mode is None else mode
    return mode | ((mode & 0o444) >> 2)


def store_umask() -> int:
    """The umask giving files :func:`file_mode` and folders :func:`dir_mode`."""
    return 0o777 & ~dir_mode()


@contextmanager
def private_files() -> Iterator[None]:
    """Create files with the store's modes inside the block (the umask is restored after)."""
    old = os.umask(store_umask())
    try:
        yield
    finally:
        os.umask(old)


def apply_file_mode() -> None:
    """Set the store's umask for the rest of the process (the command line does, first)."""
    os.umask(store_umask())
