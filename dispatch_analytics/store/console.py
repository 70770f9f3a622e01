"""Read-only SQL for people: the statement check of ``dispatch sql`` and the dashboard's
sandboxed SQL console.

:func:`check_read_only` refuses anything but one query (COPY, ATTACH, EXPORT, INSTALL, LOAD,
PRAGMA, SET, CREATE, INSERT, ...) *before* it runs. :func:`text_safe` casts the result
columns a table, a CSV file or a web page cannot hold (lists, structs, maps, unions, blobs,
intervals, uuids, bit strings, huge integers, times) to text inside DuckDB, so every result
can be shown.

:class:`SqlSandbox` is the console's engine. It holds one in-memory DuckDB database per store
with the catalog's views (never the ``catalog.duckdb`` file itself, whose process-wide
instance other readers in the same process share and configure), configured once and then
locked: the time zone (UTC), ``memory_limit`` and ``threads``; external file access off
except the store's own ``lake/`` and ``spatial/`` folders; extension install / load off; no
spilling to disk. Every request gets its own connection (a cursor of that database), so any
number of users can query at once. Results are read as Arrow record batches and cut at a row
limit *and* a byte limit, so one query cannot fill the server's memory with its result.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from ..errors import QueryError

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "ConsoleResult",
    "SqlSandbox",
    "check_read_only",
    "display_frame",
    "read_only_query",
    "store_timezone",
    "text_safe",
]

#: DuckDB type ids every output (table, CSV, JSON, a web page) holds as they are.
_PLAIN_TYPES = frozenset(
    {
        "boolean",
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "float",
        "double",
        "varchar",
        "date",
        "timestamp",
        "timestamp_s",
        "timestamp_ms",
        "timestamp_ns",
        "timestamp with time zone",
    }
)
#: Nested types: text for tables and CSV; JSON output keeps them nested.
_NESTED_TYPES = frozenset({"list", "struct", "map", "array", "union"})


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_LEADING = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)


def _first_word(text: str) -> str:
    """The statement's first keyword, after comments and opening parentheses."""
    rest = _LEADING.sub("", text).lstrip("( \t\r\n")
    m = re.match(r"[A-Za-z_]+", rest)
    return m.group(0).upper() if m else ""


def check_read_only(sql: str, who: str = "`dispatch sql`") -> str:
    """The one query in ``sql`` (trailing ``;`` removed), or :class:`QueryError` saying why not.

    Parameters
    ----------
    sql : str
        The text the user typed.
    who : str
        How the message names the command (e.g. ``"`dispatch sql`"`` or ``"the console"``).

    Returns
    -------
    str
        The statement's text, ready to run.

    Raises
    ------
    QueryError
        Empty text, a syntax error, several statements, or a statement that is not a query.
    """
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        raise QueryError(f"{who} needs a query, e.g. select * from incidents limit 10")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {exc}") from exc
    if len(statements) != 1:
        raise QueryError(
            f"{who} runs one statement at a time (got {len(statements)}); send each separately"
        )
    kind = statements[0].type
    # DuckDB plans PRAGMA as a SELECT of a table function: refuse it by its keyword
    if kind != duckdb.StatementType.SELECT or _first_word(text) == "PRAGMA":
        name = "PRAGMA" if _first_word(text) == "PRAGMA" else str(kind).split(".")[-1]
        raise QueryError(
            f"{who} is read-only: only a query (SELECT, WITH ... SELECT, FROM ...) runs; this "
            f"statement is {name}. To write files use `dispatch export` (or open the catalog "
            "in your own DuckDB session: `dispatch where`)."
        )
    return text


def text_safe(rel: duckdb.DuckDBPyRelation, nested: bool = True) -> duckdb.DuckDBPyRelation:
    """``rel`` with every column that is not a plain number, text, date or timestamp cast to
    text (``DECIMAL`` to ``DOUBLE``) inside DuckDB.

    Parameters
    ----------
    rel : DuckDBPyRelation
    nested : bool
        Cast lists, structs, maps, arrays and unions to text too (False keeps them nested,
        for JSON output).

    Returns
    -------
    DuckDBPyRelation
        The same rows, in the same order.

    Raises
    ------
    QueryError
        Two result columns share a name (a cast could not tell them apart).
    """
    names = rel.columns
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise QueryError(
            f"the result has several columns named {', '.join(f'`{d}`' for d in dupes)}; "
            "give each its own name with `as`"
        )
    exprs, changed = [], False
    for name, typ in zip(names, rel.types, strict=True):
        tid = typ.id
        if tid in _PLAIN_TYPES or (tid in _NESTED_TYPES and not nested):
            exprs.append(_quote(name))
        elif tid == "decimal":
            exprs.append(f"{_quote(name)}::double as {_quote(name)}")
            changed = True
        else:
            exprs.append(f"{_quote(name)}::varchar as {_quote(name)}")
            changed = True
    return rel.project(", ".join(exprs)) if changed else rel


def read_only_query(
    store: Store, sql: str, params: dict | None = None, nested: bool = False
) -> pl.DataFrame:
    """Run one query (never anything else: :func:`check_read_only`) over the store's catalog.

    Parameters
    ----------
    store : Store
    sql : str
    params : dict, optional
    nested : bool
        Keep lists, structs and maps nested (JSON output); otherwise they are text, like
        blobs, intervals and uuids always are (:func:`text_safe`).

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    QueryError
        The statement is not a query (the message says `dispatch sql` is read-only) or fails.
    """
    text = check_read_only(sql)
    con = store.connect(read_only=True)
    try:
        rel = con.sql(text, params=params or None)
        if rel is None:  # pragma: no cover - a SELECT always has a result
            raise QueryError("the statement returned no result set")
        return text_safe(rel, nested=not nested).pl()
    except duckdb.Error as exc:
        raise QueryError(str(exc).strip()) from exc
    finally:
        con.close()


def store_timezone(con: duckdb.DuckDBPyConnection) -> str:
    """The one time zone of the store's batches (``ingest_log.timezone``), else ``UTC``."""
    try:
        rows = con.execute(
            "select distinct timezone from ingest_log where timezone is not null"
        ).fetchall()
    except duckdb.Error:
        return "UTC"
    return rows[0][0] if len(rows) == 1 and rows[0][0] else "UTC"


def display_frame(frame: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """``frame`` with every time-zone-aware timestamp as text in ``timezone`` with its UTC
    offset (``2024-01-15 10:00:00-05:00``): unambiguous across DST changes."""
    cols = [
        pl.col(c).dt.convert_time_zone(timezone).dt.strftime("%Y-%m-%d %H:%M:%S%:z")
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime) and t.time_zone is not None
    ]
    return frame.with_columns(cols) if cols else frame


@dataclass
class ConsoleResult:
    """One console query's result.

    Attributes
    ----------
    frame : polars.DataFrame
        The rows, every column displayable (see :func:`text_safe`, :func:`display_frame`).
    truncated : str or None
        ``"rows"`` or ``"bytes"`` when the result was cut at that limit, else None.
    elapsed_s : float
    timezone : str
        The zone timestamps with a time zone are shown in.
    """

    frame: pl.DataFrame
    truncated: str | None
    elapsed_s: float
    timezone: str


class SqlSandbox:
    """The SQL console's engine over one store (see the module docstring).

    Parameters
    ----------
    store : Store
    memory_limit : str
        DuckDB ``memory_limit`` for all console queries together (e.g. ``"1GB"``).
    threads : int
        DuckDB ``threads``.
    """

    def __init__(self, store: Store, memory_limit: str = "1GB", threads: int = 2):
        self.store = store
        self.memory_limit = memory_limit
        self.threads = int(threads)
        self._lock = threading.Lock()
        self._db: duckdb.DuckDBPyConnection | None = None
        self._key: tuple | None = None
        self.timezone = "UTC"

    @classmethod
    def from_store(cls, store: Store, **settings) -> SqlSandbox:
        """A sandbox over ``store`` (``memory_limit``, ``threads`` as in the constructor)."""
        return cls(store, **settings)

    def _catalog_key(self) -> tuple:
        try:
            st = os.stat(self.store.catalog_path)
        except OSError:
            return (None,)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _build(self) -> duckdb.DuckDBPyConnection:
        root = Path(self.store.root)
        db = duckdb.connect(
            ":memory:",
            config={
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "allow_community_extensions": False,
                "memory_limit": self.memory_limit,
                "threads": self.threads,
            },
        )
        try:
            db.execute("set TimeZone = 'UTC'")
            db.execute("set enable_progress_bar = false")
            db.execute("set temp_directory = ''")  # no spilling: memory_limit is the cap
            for stmt in self.store.view_sql():
                db.execute(stmt)
            self.timezone = store_timezone(db)
            dirs = [str(root / "lake") + "/", str(root / "spatial") + "/"]
            db.execute("set allowed_directories = $d", {"d": dirs})
            db.execute("set enable_external_access = false")
            db.execute("set lock_configuration = true")
        except duckdb.Error as exc:
            db.close()
            raise QueryError(f"cannot open the store's views: {exc}") from exc
        return db

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A new connection (cursor) to the sandbox database, rebuilt when the catalog was."""
        with self._lock:
            key = self._catalog_key()
            if self._db is None or key != self._key:
                self._db, self._key = self._build(), key
            return self._db.cursor()

    # Long: one request's whole life (check, plan, cast, timed streaming fetch, limits)
    def run(
        self,
        sql: str,
        params: dict | None = None,
        row_limit: int = 5000,
        max_bytes: int = 50_000_000,
        timeout_s: float = 10.0,
    ) -> ConsoleResult:
        """Run one query; at most ``row_limit`` rows and about ``max_bytes`` bytes come back.

        Parameters
        ----------
        sql : str
        params : dict, optional
            Values of the query's ``$name`` placeholders.
        row_limit, max_bytes : int
            Cut the result at this many rows / Arrow bytes (``truncated`` says which).
        timeout_s : float
            Interrupt the query after this many seconds.

        Returns
        -------
        ConsoleResult

        Raises
        ------
        QueryError
            A refused statement, a SQL error, a file outside the store, too much memory, or
            the time limit; the message says which and what to do.
        """
        text = check_read_only(sql, "the console")
        t0 = time.perf_counter()
        con = self.connection()
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            rel = con.sql(text, params=params or None)
            if rel is None:  # pragma: no cover - a SELECT always has a result
                raise QueryError("the statement returned no result set")
            reader = text_safe(rel).to_arrow_reader(2048)
            batches, rows, size, cut = [], 0, 0, None
            for batch in reader:
                if size + batch.nbytes > max_bytes:  # keep the rows that fit the byte cap
                    keep = int(batch.num_rows * (max_bytes - size) / max(batch.nbytes, 1))
                    batches.append(batch.slice(0, max(keep, 0)))
                    cut = "bytes"
                    break
                batches.append(batch)
                rows += batch.num_rows
                size += batch.nbytes
                if rows > row_limit:
                    cut = "rows"
                    break
            import pyarrow as pa

            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException as exc:
            raise QueryError(
                f"the query ran longer than {timeout_s:g} s; narrow it (a where clause, "
                "a limit) or ask for a longer `sql_timeout_s`"
            ) from exc
        except duckdb.PermissionException as exc:
            raise QueryError(
                f"refused: {str(exc).split(' - ')[0]} (the console reads only the store's "
                "views; it may not read other files, attach databases or load extensions)"
            ) from exc
        except duckdb.OutOfMemoryException as exc:
            raise QueryError(
                f"the query needs more than the console's memory ({self.memory_limit}); "
                "aggregate or narrow it, or raise `sql_memory_limit`"
            ) from exc
        except duckdb.Error as exc:
            raise QueryError(f"SQL error: {exc}") from exc
        finally:
            timer.cancel()
            con.close()
        frame = pl.from_arrow(table)
        if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a table gives a frame
            frame = frame.to_frame()
        if cut == "rows":
            frame = frame.head(row_limit)
        return ConsoleResult(
            display_frame(frame, self.timezone), cut, time.perf_counter() - t0, self.timezone
        )
