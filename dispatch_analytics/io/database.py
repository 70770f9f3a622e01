"""Reading a CAD database through DuckDB's PostgreSQL scanner, loaded offline.

The extension comes from the ``duckdb-extension-postgres`` wheel (the same packaging as the
spatial extension, see :mod:`dispatch_analytics.store.extension`); nothing is downloaded.
The database is attached read-only as ``cad`` and made the default catalog, so a feed query
reads ``select * from cad_units`` exactly as it would in ``psql``.

:func:`fetch_since` runs the feed query wrapped with the cursor condition and stages the new
rows in a DuckDB temporary table (spilling to disk, never all in Python), from which
:func:`write_staged` writes a Parquet file for ingest.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb

from ..errors import FeedError
from ..sql import sql_str as _sql_str

__all__ = [
    "SCHEMES",
    "postgres_extension_path",
    "redact_url",
    "connect_database",
    "Fetched",
    "fetch_since",
    "write_staged",
]

#: URL schemes :func:`connect_database` accepts.
SCHEMES = ("postgresql", "postgres")
_STAGE = "_feed_batch"
_HASH = "_feed_row_md5"
# a DuckDB type name as DuckDB prints it (TIMESTAMP WITH TIME ZONE, DECIMAL(18,3), ...)
_TYPE = re.compile(r"^[A-Z][A-Z0-9_ ]*(\(\d+(,\s*\d+)?\))?$")


def postgres_extension_path() -> Path | None:
    """The PostgreSQL extension shipped by the ``duckdb-extension-postgres`` wheel, if it
    matches the running DuckDB; else None."""
    try:
        import duckdb_extension_postgres as pkg
    except ImportError:
        return None
    base = Path(pkg.__file__).parent if pkg.__file__ else Path(list(pkg.__path__)[0])
    p = base / "extensions" / f"v{duckdb.__version__}" / "postgres.duckdb_extension"
    return p if p.is_file() else None


def redact_url(url: str) -> str:
    """``url`` without its password (for messages and logs).

    Parameters
    ----------
    url : str

    Returns
    -------
    str
        ``postgresql://user:***@host:port/db`` (unchanged when it holds no password).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load_extension(con: duckdb.DuckDBPyConnection) -> None:
    path = postgres_extension_path()
    if path is None:
        raise FeedError(
            "the PostgreSQL scanner is not installed for DuckDB "
            f"{duckdb.__version__}: `pip install duckdb-extension-postgres=={duckdb.__version__}` "
            "(or `pip install 'dispatch-analytics[postgres]'`)"
        )
    # DuckDB derives the entry point from the file name: the wheel ships the extension as
    # postgres.duckdb_extension, its entry point is postgres_scanner's, so load it through a
    # link of that name (removed once loaded: the library stays mapped)
    tmp = Path(tempfile.mkdtemp(prefix="dispatch-pgext-"))
    try:
        link = tmp / "postgres_scanner.duckdb_extension"
        link.symlink_to(path)
        con.execute(f"load {_sql_str(str(link))}")
    except duckdb.Error as exc:
        raise FeedError(f"cannot load the PostgreSQL scanner from {path}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def connect_database(url: str, spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the CAD database attached read-only as ``cad``.

    Parameters
    ----------
    url : str
        ``postgresql://user[:password]@host[:port]/dbname`` (libpq also reads
        ``PGPASSWORD`` and ``~/.pgpass``).
    spill_dir : Path, optional
        Where DuckDB may spill a large batch to disk.

    Returns
    -------
    duckdb.DuckDBPyConnection
        ``cad`` is the default catalog: unqualified table names resolve in the database.

    Raises
    ------
    FeedError
        The URL's scheme is not supported, the extension is missing, or the server cannot
        be reached (the message never shows the password).
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise FeedError(
            f"`--database` {redact_url(url)!r} must be a postgresql://user@host:port/dbname "
            "URL (SQL Server / Oracle: see docs/live.md, ODBC)"
        )
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.execute("set TimeZone = 'UTC'")
        if spill_dir is not None:
            spill_dir.mkdir(parents=True, exist_ok=True)
            con.execute(f"set temp_directory = {_sql_str(str(spill_dir))}")
        _load_extension(con)
        try:
            con.execute(f"attach {_sql_str(url)} as cad (type postgres, read_only)")
        except duckdb.Error as exc:
            msg = str(exc).replace(url, redact_url(url)).strip()
            raise FeedError(
                f"cannot connect to the CAD database {redact_url(url)}: {msg}; check the host, "
                "port, database name and credentials (and that the server accepts TCP "
                "connections)"
            ) from exc
        con.execute("use cad")
    except BaseException:
        con.close()
        raise
    return con


@dataclass
class Fetched:
    """The rows one poll staged (in the connection's temporary table ``_feed_batch``)."""

    rows: int
    #: the largest cursor value among them (text, cast back with ``cursor_type``)
    cursor: str | None
    cursor_type: str | None
    #: md5 of every row taken so far whose cursor equals ``cursor``
    at_cursor: list[str] = field(default_factory=list)


def _query_text(query: str) -> str:
    q = query.strip().rstrip(";").strip()
    if not q:
        raise FeedError("the feed query is empty: `--query FILE.sql` must hold one select")
    if ";" in q:
        raise FeedError(
            "the feed query holds more than one statement: `--query FILE.sql` must hold "
            "exactly one select (no `;` inside)"
        )
    return q


# Long: one guarded sequence (bind the query, check the cursor column, stage, summarise);
# split up it would pass the connection state around for no clarity.
def fetch_since(
    con: duckdb.DuckDBPyConnection,
    query: str,
    cursor_column: str,
    cursor: str | None = None,
    cursor_type: str | None = None,
    taken: list[str] | None = None,
) -> Fetched:
    """Stage the rows of ``query`` whose ``cursor_column`` is at or past ``cursor``.

    Rows at exactly ``cursor`` whose content hash is in ``taken`` were fetched by an earlier
    poll and are dropped, so rows that share the cursor value are never lost (a row
    committed later with the same stamp is fetched) nor fetched twice. Rows whose cursor is
    NULL are never fetched.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`connect_database`.
    query : str
        One ``select``, run in the database's dialect as DuckDB reads it.
    cursor_column : str
        A column of the query's result that only grows as rows are added or updated
        (an update stamp or a sequence).
    cursor, cursor_type : str, optional
        The saved cursor (text) and its DuckDB type; None on the first poll (every row).
    taken : list of str, optional
        md5 of the rows taken at ``cursor`` by earlier polls.

    Returns
    -------
    Fetched

    Raises
    ------
    FeedError
        The query fails, or ``cursor_column`` is not among its columns.
    """
    q = _query_text(query)
    try:
        cols = [d[0] for d in con.execute(f"select * from ({q}) as _feed limit 0").description]
    except duckdb.Error as exc:
        raise FeedError(f"the feed query failed: {str(exc).strip()}; fix `--query`") from exc
    if cursor_column not in cols:
        raise FeedError(
            f"`--cursor` {cursor_column!r} is not a column of the feed query; its columns: "
            + ", ".join(cols)
        )
    col = f"_feed.{_ident(cursor_column)}"
    where = f"{col} is not null"
    params: dict[str, object] = {}
    if cursor is not None:
        if not cursor_type or not _TYPE.match(cursor_type):
            raise FeedError(
                f"the feed state holds an unusable cursor type {cursor_type!r}; delete the "
                "state file to fetch every row again (duplicates are rejected)"
            )
        where = (
            f"{col} >= cast($cursor as {cursor_type}) and not ({col} = cast($cursor as "
            f"{cursor_type}) and md5(to_json(_feed)::varchar) in (select unnest($taken)))"
        )
        params = {"cursor": cursor, "taken": list(taken or [])}
    try:
        con.execute(
            f"create or replace temp table {_STAGE} as select *, md5(to_json(_feed)::varchar) "
            f"as {_HASH} from ({q}) as _feed where {where}",
            params or None,
        )
        n = con.execute(f"select count(*) from {_STAGE}").fetchone()
        rows = int(n[0]) if n else 0
        if rows == 0:
            return Fetched(0, cursor, cursor_type, list(taken or []))
        top = con.execute(
            f"select cast(max({_ident(cursor_column)}) as varchar), "
            f"typeof(max({_ident(cursor_column)})) from {_STAGE}"
        ).fetchone()
        new_cursor, new_type = (str(top[0]), str(top[1])) if top else (None, None)
        hashes = [
            r[0]
            for r in con.execute(
                f"select {_HASH} from {_STAGE} where {_ident(cursor_column)} = "
                f"(select max({_ident(cursor_column)}) from {_STAGE})"
            ).fetchall()
        ]
    except duckdb.Error as exc:
        raise FeedError(f"the feed query failed: {str(exc).strip()}; fix `--query`") from exc
    if new_cursor == cursor:  # the new rows tie with the old cursor: remember both sets
        hashes = sorted(set(hashes) | set(taken or []))
    return Fetched(rows, new_cursor, new_type, hashes)


def write_staged(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Write the staged rows (without the hash column) to a Parquet file, atomically.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        After :func:`fetch_since` staged rows.
    path : Path
        The file to write (its folder is created).

    Returns
    -------
    Path
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    con.execute(
        f"copy (select * exclude ({_HASH}) from {_STAGE} order by {_HASH}) to "
        f"{_sql_str(str(tmp))} (format parquet)"
    )
    tmp.replace(path)
    return path
