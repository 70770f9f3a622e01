"""The SQL console's sandbox: one read-only SELECT, no files, no ATTACH, row and time limits."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

__all__ = ["SqlResult", "run_console_sql", "sandboxed_connection"]


@dataclass
class SqlResult:
    """What the console shows: a frame, or an error message; plus whether rows were cut."""

    frame: pl.DataFrame | None
    error: str | None = None
    truncated: bool = False
    elapsed_s: float = 0.0


def sandboxed_connection(catalog: Path, lake: Path) -> duckdb.DuckDBPyConnection:
    """A read-only catalog connection that can read the lake and nothing else.

    External file access is off except for the lake folder; extensions cannot be installed
    or loaded; the configuration is locked so a query cannot switch any of this back on.
    """
    con = duckdb.connect(
        str(catalog),
        read_only=True,
        config={"autoload_known_extensions": False, "autoinstall_known_extensions": False},
    )
    con.execute("set TimeZone = 'UTC'")
    con.execute("set allowed_directories = [$d]", {"d": str(lake.resolve()) + "/"})
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return con


def run_console_sql(
    catalog: Path,
    lake: Path,
    sql: str,
    row_limit: int = 5000,
    timeout_s: float = 10.0,
    params: dict | None = None,
) -> SqlResult:
    """Run one SELECT in the sandbox, with at most ``row_limit`` rows and ``timeout_s`` seconds.

    Anything else (several statements, writes, ATTACH, COPY, INSTALL, SET, file reads) is
    refused with a message that says why.
    """
    import time

    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        return SqlResult(None, "Write a SELECT query, e.g. select * from incidents limit 10")
    t0 = time.perf_counter()
    try:
        con = sandboxed_connection(catalog, lake)
    except duckdb.Error as exc:
        return SqlResult(None, f"cannot open the catalog: {exc}")
    timer = threading.Timer(timeout_s, con.interrupt)
    try:
        try:
            statements = con.extract_statements(text)
        except duckdb.Error as exc:
            return SqlResult(None, f"SQL error: {exc}")
        if len(statements) != 1:
            return SqlResult(None, f"Refused: run one statement at a time (got {len(statements)}).")
        if statements[0].type != duckdb.StatementType.SELECT:
            kind = str(statements[0].type).split(".")[-1]
            return SqlResult(
                None,
                f"Refused: the console is read-only; only SELECT queries run (this is {kind}).",
            )
        timer.start()
        try:
            cur = con.execute(text, params or None)
            names = [d[0] for d in cur.description]
            rows = cur.fetchmany(row_limit + 1)
        except duckdb.InterruptException:
            return SqlResult(None, f"Refused: the query ran longer than {timeout_s:g} s.")
        except duckdb.PermissionException as exc:
            return SqlResult(
                None,
                f"Refused: {str(exc).split(' - ')[0]} (the console may not "
                "read files, attach databases or install extensions).",
            )
        except duckdb.Error as exc:
            return SqlResult(None, f"SQL error: {exc}")
        truncated = len(rows) > row_limit
        rows = rows[:row_limit]
        cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
        try:
            frame = pl.DataFrame(cols, strict=False)
        except Exception:  # mixed types: show as text
            frame = pl.DataFrame(
                {k: [None if v is None else str(v) for v in vals] for k, vals in cols.items()}
            )
        return SqlResult(frame, None, truncated, time.perf_counter() - t0)
    finally:
        timer.cancel()
        con.close()
