"""The SQL console's sandbox: one read-only query, the store's files only, row / byte / time
and memory limits. The engine is the library's :class:`~dispatch_analytics.store.console.SqlSandbox`
(one sandboxed database per store, one connection per request); this module turns its
results and errors into what the page shows."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dispatch_analytics.errors import DispatchError
from dispatch_analytics.store import Store
from dispatch_analytics.store.console import SqlSandbox

__all__ = ["SqlResult", "console_limits", "run_console_sql", "sandbox_for"]

_SANDBOXES: dict[tuple, SqlSandbox] = {}
_LOCK = threading.Lock()


@dataclass
class SqlResult:
    """What the console shows: a frame, or an error message; whether (and why) rows were cut.

    ``truncated`` is ``"rows"`` or ``"bytes"`` (falsy when the whole result is shown);
    ``timezone`` is the zone timestamps are shown in.
    """

    frame: pl.DataFrame | None
    error: str | None = None
    truncated: str | None = None
    elapsed_s: float = 0.0
    timezone: str = "UTC"


def sandbox_for(root: Path, memory_limit: str = "1GB", threads: int = 2) -> SqlSandbox:
    """The one sandbox of the store at ``root`` with these settings (made on first use)."""
    key = (str(Path(root).resolve()), memory_limit, int(threads))
    with _LOCK:
        box = _SANDBOXES.get(key)
        if box is None:
            box = SqlSandbox.from_store(
                Store(root, create=False), memory_limit=memory_limit, threads=threads
            )
            _SANDBOXES[key] = box
        return box


def console_limits(cfg) -> dict:
    """The byte, memory and thread settings of a :class:`~dash_app.config.DashConfig` as
    keyword arguments of :func:`run_console_sql`."""
    return {
        "max_bytes": int(cfg.sql_max_bytes),
        "memory_limit": str(cfg.sql_memory_limit),
        "threads": int(cfg.sql_threads),
    }


def run_console_sql(
    catalog: Path,
    lake: Path,
    sql: str,
    row_limit: int = 5000,
    timeout_s: float = 10.0,
    params: dict | None = None,
    max_bytes: int = 50_000_000,
    memory_limit: str = "1GB",
    threads: int = 2,
) -> SqlResult:
    """Run one query in the sandbox of the store holding ``catalog``.

    Anything but one query (several statements, writes, ATTACH, COPY, INSTALL, SET, reading
    files outside the store) is refused with a message that says why; so are queries over
    the time or memory limit. ``lake`` is the store's lake folder (kept for callers; the
    store is found from ``catalog``).
    """
    del lake  # the sandbox allows the store's lake/ and spatial/ folders
    if not (sql or "").strip().rstrip(";").strip():
        return SqlResult(None, "Write a SELECT query, e.g. select * from incidents limit 10")
    try:
        box = sandbox_for(Path(catalog).parent, memory_limit, threads)
        res = box.run(sql, params, row_limit, max_bytes, timeout_s)
    except DispatchError as exc:
        msg = str(exc)
        prefix = "" if msg.startswith("SQL error") else "Refused: "
        return SqlResult(None, prefix + msg[:1].upper() + msg[1:] if prefix else msg)
    return SqlResult(res.frame, None, res.truncated, res.elapsed_s, res.timezone)
