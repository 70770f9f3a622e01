"""Live feeds: a drop folder or a CAD database watched and ingested as data arrives.

* :class:`FolderWatch`: ingest each export file of a folder once it is complete, once;
* :class:`DatabaseWatch`: poll a CAD database past a saved cursor;
* :func:`run`: one cycle every ``interval_s`` seconds (``dispatch watch``);
* :func:`feed_status`: the last successful ingest, its age, stale or not (the dashboard).

See ``docs/live.md``.
"""

from __future__ import annotations

from .database import DatabaseWatch
from .folder import FolderWatch
from .loop import run
from .state import CycleReport
from .status import DEFAULT_STALE_AFTER_S, feed_status

__all__ = [
    "FolderWatch",
    "DatabaseWatch",
    "CycleReport",
    "run",
    "feed_status",
    "DEFAULT_STALE_AFTER_S",
]
