"""The analyst SQL library: ``queries/*.sql`` (repo root), one query per file.

Each file starts with a header of ``-- key: value`` comment lines (a line starting ``--`` plus
two or more spaces continues the previous key)::

    -- name: fractile_compliance
    -- description: ...
    -- params: metric (interval: a|b|c), layer (optional: zone layer),
    --   percentile (default 90), target_s (target in seconds)
    -- returns: zone_id, n, p90_s, ...

A parameter is *required* unless its doc says ``optional`` (then it may be NULL) or gives a
``default X``. A doc listing ``a|b|c`` restricts the value to those choices; a doc saying
``incident interval`` (``unit interval``) restricts it to the stored intervals of that level in
the interval registry (:mod:`dispatch_analytics.schema.intervals`). Parameters whose default is
numeric are coerced from text to numbers. Placeholders in the SQL are DuckDB named parameters
(``$metric``).

``queries/_macros.sql`` (files starting with ``_`` are not queries) holds the shared statistics
macros (``da_fractiles``: fractiles, CI and compliance of a relation; nearest-rank percentile,
order-statistic CI ranks, flags); :func:`prepare` creates them on a connection before any query
runs, with the interval views ``incident_intervals`` / ``unit_intervals`` where the catalog
lacks them.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import weakref
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import polars as pl

from ..errors import QueryError
from ..schema.intervals import interval_names
from ..sql import macro_statements, queries_dir
from ..store.derived_sql import interval_view_sql
from ..store.file_memo import cached
from .agencies import agency_names

__all__ = [
    "QueryParam",
    "QueryInfo",
    "queries_dir",
    "list_queries",
    "get_query",
    "macro_statements",
    "install_macros",
    "ensure_zone_views",
    "ensure_interval_views",
    "known_layers",
    "prepare",
    "inline_params",
    "fetch_frame",
    "run_query",
]

#: Views of the spatial layer (another module); empty placeholders are created when missing.
ZONE_VIEWS: dict[str, str] = {
    "zones": "select null::varchar as layer, null::varchar as agency, null::varchar as zone_id, "
    "null::varchar as name, null::varchar as density_class, null::double as area_km2, "
    "null::blob as geometry where false",
    "stations": "select null::varchar as agency, null::varchar as station_id, "
    "null::varchar as name, null::double as latitude, null::double as longitude where false",
    "incident_zones": "select null::varchar as agency, null::varchar as incident_id, "
    "null::varchar as layer, null::varchar as zone_id where false",
    "incident_cells": "select null::varchar as agency, null::varchar as incident_id, "
    "null::tinyint as resolution, null::varchar as h3_cell where false",
    "units": "select null::varchar as agency, null::varchar as unit_id, "
    "null::varchar as station_id, null::varchar as unit_type, null::integer as staffing, "
    "null::varchar as source where false",
}

_NULL_TEXT = {"", "null", "none"}


class QueryParam(NamedTuple):
    """One ``$param`` of a query: name, documentation and default (None = none)."""

    name: str
    doc: str
    default: Any

    @property
    def optional(self) -> bool:
        return self.default is not None or bool(re.search(r"\boptional\b", self.doc))

    @property
    def required(self) -> bool:
        return not self.optional

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The valid values: ``a|b|c`` in the doc, or the registry's stored intervals of a
        level for a doc saying ``incident interval`` / ``unit interval``."""
        iv = re.search(r"\b(incident|unit) interval\b", self.doc)
        if iv:
            return tuple(interval_names(iv.group(1), stored=True))
        m = re.search(r"\b([a-z0-9_]+(?:\|[a-z0-9_]+)+)\b", self.doc)
        return tuple(m.group(1).split("|")) if m else None


class QueryInfo(NamedTuple):
    """A query file: name, description, params, path, and the documented result columns."""

    name: str
    description: str
    params: list[QueryParam]
    path: Path
    returns: list[str]

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _parse_params(text: str, path: Path) -> list[QueryParam]:
    params = []
    for item in _split_top(text):
        m = re.fullmatch(r"([a-z_][a-z0-9_]*)\s*(?:\((.*)\))?", item, flags=re.S)
        if not m:
            raise QueryError(
                f"{path}: cannot read parameter {item!r} in the '-- params:' header "
                "(expected: name (doc), ...)"
            )
        name, doc = m.group(1), " ".join((m.group(2) or "").split())
        default: Any = None
        d = re.search(r"\bdefault\s+([^;,)\s]+)", doc)
        if d:
            num = _number(d.group(1))
            default = num if num is not None else d.group(1)
        params.append(QueryParam(name, doc, default))
    return params


def parse_header(path: Path) -> QueryInfo | None:
    """The header of one query file, or None when it has no ``-- name:`` line."""
    fields: dict[str, str] = {}
    last = None
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not s.startswith("--"):
            break
        m = re.match(r"--\s?([a-z_]+):\s*(.*)$", s)
        if m and not re.match(r"--\s{2,}", s):
            last = m.group(1)
            fields[last] = m.group(2).strip()
        elif last and re.match(r"--\s{2,}\S", s):
            fields[last] = (fields[last] + " " + s[2:].strip()).strip()
        else:
            last = None
    if "name" not in fields:
        return None
    params = _parse_params(fields.get("params", ""), path)
    returns = [c.strip() for c in fields.get("returns", "").split(",") if c.strip()]
    return QueryInfo(fields["name"], fields.get("description", ""), params, path, returns)


def list_queries(directory: str | os.PathLike | None = None) -> list[QueryInfo]:
    """Every query in the queries folder, sorted by name (files starting with ``_`` skipped)."""
    d = Path(directory) if directory else queries_dir()
    if not d.is_dir():
        raise QueryError(f"queries folder {d} not found (set DISPATCH_QUERIES_DIR)")
    out = []
    for path in sorted(d.glob("*.sql")):
        if path.name.startswith("_"):
            continue
        # parsed once per version of the file: every run_query lists the folder, and its
        # 14 headers took 5 ms a call (as much as executing a small query's plan)
        info = cached(path, "query header", parse_header)
        if info is None:
            raise QueryError(f"{path}: no '-- name:' header line")
        out.append(info)
    return sorted(out, key=lambda q: q.name)


def get_query(name: str, directory: str | os.PathLike | None = None) -> QueryInfo:
    """One query by name; :class:`QueryError` lists the known ones."""
    queries = list_queries(directory)
    for q in queries:
        if q.name == name:
            return q
    raise QueryError(f"unknown query {name!r}; known queries: {', '.join(q.name for q in queries)}")


#: The connections :func:`install_macros` has run on (weak: a closed, dropped connection
#: leaves). Creating the macros takes about 7 ms, and every query, ``Fractiles`` and report
#: entry prepares its connection: a test-suite snapshot of one store ran it 150 times.
_WITH_MACROS: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the shared statistics macros on ``con`` (temporary: fine on a read-only catalog),
    once per connection."""
    if con in _WITH_MACROS:
        return
    for stmt in macro_statements():
        con.execute(stmt)
    _WITH_MACROS.add(con)


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def ensure_zone_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create empty temporary ``zones`` / ``stations`` / ``incident_zones`` / ``incident_cells``
    views on ``con`` when the catalog lacks them (before the spatial layer exists, so queries
    that join zones still run: every incident is then "not assigned"). Returns those created."""
    have = _relations(con)
    made = []
    for name, sql in ZONE_VIEWS.items():
        if name not in have:
            con.execute(f"create temp view {name} as {sql}")
            made.append(name)
    return made


def ensure_interval_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the registry's long views ``incident_intervals`` / ``unit_intervals`` as
    temporary views on ``con`` when it lacks them (a catalog of an older version, hand-made
    tables) and its ``incidents`` / ``responses`` have the columns. Returns those created."""
    have = _relations(con)
    made = []
    for stmt in interval_view_sql():
        name = stmt.split()[4]  # create or replace view <name> as
        if name in have:
            continue
        try:
            con.execute(stmt.replace("create or replace view", "create temp view", 1))
        except duckdb.Error:
            continue  # no such base table or columns: queries that need the view say so
        made.append(name)
    return made


def known_layers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Zone layers known on ``con`` (from ``zones`` and ``incident_zones``)."""
    ensure_zone_views(con)
    rows = con.execute(
        "select layer from (select distinct layer from zones union "
        "select distinct layer from incident_zones) where layer is not null order by layer"
    ).fetchall()
    return [r[0] for r in rows]


def prepare(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make ``con`` ready for the metric SQL: zone-view placeholders, the interval views and
    the macros."""
    ensure_zone_views(con)
    ensure_interval_views(con)
    install_macros(con)
    return con


def _literal(v: Any) -> str | None:
    """A SQL literal of the same type DuckDB gives the bound Python value, or None when ``v``
    is of a kind this does not render (it is then bound as usual)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)  # INTEGER / BIGINT / HUGEINT by size, as a bound int
    if isinstance(v, float):  # through text: DuckDB parses doubles exactly ('1.5' not 1.5)
        text = repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else repr(v))
        return f"'{text}'::double"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'::varchar"
    if isinstance(v, dt.datetime):
        kind = "timestamptz" if v.tzinfo is not None else "timestamp"
        return f"'{v.isoformat()}'::{kind}"
    if isinstance(v, dt.date):
        return f"'{v.isoformat()}'::date"
    if isinstance(v, list | tuple) and v and all(type(x) in (int, str, float) for x in v):
        if len({type(x) for x in v}) == 1:
            return "[" + ", ".join(_literal(x) or "" for x in v) + "]"
    return None


_SQL_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$\$.*?\$\$|\$([A-Za-z_][A-Za-z0-9_]*)""",
    re.S,
)


def inline_params(sql: str, params: dict[str, Any]) -> str | None:
    """``sql`` with each ``$name`` placeholder of ``params`` replaced by a SQL literal of its
    value (outside string literals, quoted names and comments), or None when a value is of a
    kind that must be bound (nested lists, mixed lists, other objects).

    Why: the DuckDB Python client imports pandas (0.5-1 s) the first time it binds any
    parameter, so a ``dispatch query`` that binds pays for pandas it never uses. A literal has
    the type DuckDB gives the bound value (int -> INTEGER/BIGINT, float -> DOUBLE, str ->
    VARCHAR, None -> NULL, date -> DATE, datetime -> TIMESTAMP[TZ], flat lists -> T[]):
    ``tests/test_query_speed.py`` checks ``typeof`` of both for every kind.
    """
    lits: dict[str, str] = {}
    for k, v in params.items():
        lit = _literal(v)
        if lit is None:
            return None
        lits[k] = lit

    def sub(m: re.Match) -> str:
        name = m.group(1)
        return lits.get(name, m.group(0)) if name is not None else m.group(0)

    return _SQL_TOKENS.sub(sub, sql)


def fetch_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run one select and return a Polars frame, without the pandas import DuckDB makes when it
    binds parameters (:func:`inline_params`) and without pyarrow (the relation's Arrow C
    stream goes to Polars directly). Same frame, same column types as
    ``con.execute(sql, params).pl()``; DuckDB errors are raised as ``duckdb.Error``."""
    params = dict(params or {})
    inlined = inline_params(sql, params)
    if inlined is None:
        return con.execute(sql, params).pl()
    rel = con.sql(inlined)
    if rel is None:  # not a select: executed already, nothing to return
        return pl.DataFrame()
    return pl.DataFrame(rel)


def _coerce(q: QueryInfo, p: QueryParam, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NULL_TEXT:
            return None
        if isinstance(p.default, int | float) and not isinstance(p.default, bool):
            num = _number(text)
            if num is None:
                raise QueryError(
                    f"query {q.name}: parameter {p.name} must be a number, got {value!r}"
                )
            return num
        value = text
    if p.choices and str(value) not in p.choices:
        raise QueryError(
            f"query {q.name}: parameter {p.name} must be one of "
            f"{', '.join(p.choices)}; got {value!r}"
        )
    return value


def _connection(con: Any) -> tuple[duckdb.DuckDBPyConnection, bool]:
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con, False
    if hasattr(con, "connect"):  # a Store
        return con.connect(read_only=True), True
    raise QueryError(f"expected a DuckDB connection or a Store, got {type(con).__name__}")


def _values(con, q: QueryInfo, params: dict[str, Any], listing: str) -> dict[str, Any]:
    """Every parameter's value: coerced, defaulted, checked (choices, required, layers)."""
    values: dict[str, Any] = {}
    for p in q.params:
        v = _coerce(q, p, params[p.name]) if p.name in params else None
        if v is None:
            if p.required:
                raise QueryError(
                    f"query {q.name}: missing required parameter {p.name!r} "
                    f"({p.doc}); valid parameters: {listing}"
                )
            v = p.default
        if p.name == "agency" and v is not None:
            names = agency_names(con)
            if v not in names:
                raise QueryError(
                    f"query {q.name}: unknown agency {v!r}; agencies in the store: "
                    f"{', '.join(names) or '(none)'}"
                )
        if p.name.endswith("layer") and v is not None:
            layers = known_layers(con)
            if v not in layers:
                raise QueryError(
                    f"query {q.name}: unknown layer {v!r} for {p.name}; "
                    f"valid layers: {', '.join(layers) or '(none loaded)'}"
                )
        values[p.name] = v
    return values


def _with_sources(sql: str, sources: dict[str, str]) -> str:
    """``sql`` with each relation named in ``sources`` replaced by that select (a CTE of the
    same name shadows the catalog's table or view for this statement only)."""
    for name in sources:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise QueryError(f"source name {name!r} is not a relation name")
    defs = ",\n".join(f"{name} as (\n{body}\n)" for name, body in sources.items())
    body = sql.strip().rstrip(";")
    return f"with {defs}\nselect * from (\n{body}\n)"


def run_query(
    con: Any,
    name: str,
    params: dict[str, Any] | None = None,
    directory: str | os.PathLike | None = None,
    sources: dict[str, str] | None = None,
    source_params: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Run one query of the library and return a Polars frame.

    Parameters
    ----------
    con : DuckDB connection (with the catalog views) or :class:`~dispatch_analytics.Store`
    name : str
        The query's ``-- name:``.
    params : dict
        Parameter values, as text (from a command line) or Python values. Text is coerced to a
        number where the documented default is numeric; ``""``, ``null`` and ``none`` are NULL.
    sources : dict, optional
        ``{relation: select}``: run the query over these rows instead of the catalog's
        relation of that name (e.g. ``{"unit_intervals": "select * from unit_intervals where
        ..."}`` for a filtered subset); the selects must give the relation's columns.
    source_params : dict, optional
        Named parameters used by the ``sources`` selects.

    Raises
    ------
    QueryError
        Unknown query (lists the known ones), unknown or missing parameter (names it and lists
        the valid ones), a value outside the documented choices, an unknown zone layer, or a
        DuckDB error while running.
    """
    q = get_query(name, directory)
    params = dict(params or {})
    valid = [p.name for p in q.params]
    listing = ", ".join(valid) if valid else "(none)"
    for k in params:
        if k not in valid:
            raise QueryError(
                f"query {q.name}: unknown parameter {k!r}; valid parameters: {listing}"
            )
    con, close = _connection(con)
    try:
        prepare(con)
        values = _values(con, q, params, listing)
        sql = q.sql
        code = "\n".join(ln.split("--", 1)[0] for ln in sql.splitlines())
        used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", code))
        bind = {k: v for k, v in values.items() if k in used}
        if sources:
            sql = _with_sources(sql, sources)
            bind.update(source_params or {})
        try:
            return fetch_frame(con, sql, bind)
        except duckdb.Error as exc:
            raise QueryError(f"query {q.name} failed: {str(exc).strip()}") from exc
    finally:
        if close:
            con.close()
