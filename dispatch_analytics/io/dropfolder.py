"""Looking at a drop folder: which export files are there, how big, how recently written.

A CAD system (or a colleague's script) drops export files into a folder; the watcher
(:mod:`dispatch_analytics.feeds.folder`) ingests each once it is complete. This module only
looks: :func:`scan_folder` lists the candidate files with their size and modification time,
:func:`file_sha256` hashes one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import FeedError

__all__ = ["FileLook", "scan_folder", "file_sha256", "IGNORED"]

#: Names never ingested: hidden files, editors' and copiers' partial files.
IGNORED = (".*", "~*", "*~", "*.tmp", "*.part", "*.partial", "*.crdownload", "*.swp")


@dataclass(frozen=True)
class FileLook:
    """One file as one look saw it."""

    path: Path
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> tuple[int, int]:
        """``(size, mtime_ns)``: equal in two looks means the file did not change between."""
        return (self.size, self.mtime_ns)


def scan_folder(folder: str | os.PathLike, pattern: str = "*") -> list[FileLook]:
    """The files of ``folder`` (not its sub-folders) that match ``pattern``, sorted by name.

    Parameters
    ----------
    folder : path
    pattern : str
        A glob on the file name (``*.csv``); names in :data:`IGNORED` are always skipped.

    Returns
    -------
    list of FileLook

    Raises
    ------
    FeedError
        ``folder`` does not exist or is not a readable folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FeedError(
            f"drop folder {root} does not exist or is not a folder; create it or fix `DIR`"
        )
    looks = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise FeedError(f"cannot list drop folder {root}: {exc}") from exc
    for e in entries:
        if any(fnmatch.fnmatch(e.name, ig) for ig in IGNORED):
            continue
        if not fnmatch.fnmatch(e.name, pattern):
            continue
        try:
            if not e.is_file():
                continue
            st = e.stat()
        except OSError:  # removed between the listing and the look
            continue
        looks.append(FileLook(Path(e.path), st.st_size, st.st_mtime_ns))
    return looks


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's content (hex), read in 8 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            h.update(block)
    return h.hexdigest()
