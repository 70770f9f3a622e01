"""A connection that sees one agency (or a chosen set): every view of the catalog, over that
agency's rows only.

Every analysis, query and report of the library reads the catalog's relations (``incidents``,
``responses``, ``incident_intervals``, ``incident_zones`` ...). Rather than a filter in each of
their queries (easy to forget in one, and then two agencies are silently added together),
:func:`agency_scope` gives a connection on which those relations already hold the chosen
agencies' rows, and zones, stations and units that belong to them or are shared (``agency``
null)::

    con = agency_scope(store.connect(), "SFFD")
    con.execute("select count(*) from incidents")   # SFFD's incidents only

How: the catalog's views are recreated in an in-memory database with the lowest relations that
carry ``agency`` (the lake's ``responses_all``, the derived incidents, rejects, the spatial
files) wrapped in a ``where agency in (...)``; the views above them (``responses``,
``incidents``, the interval views) are bound by name when queried, so they see the scoped rows.
The source connection is not changed. A connection whose relations are tables (built by hand,
e.g. in tests) is scoped with temporary views of the same names instead (top-level queries
then see the agency's rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb

from ..errors import AgencyError
from .agencies import ALL, agency_names, resolve_agency

__all__ = ["AGENCY_RELATIONS", "SHARED_RELATIONS", "agency_scope", "agency_list"]

#: Relations whose rows belong to one agency (incidents and what was derived from them).
AGENCY_RELATIONS = (
    "responses_all",
    "_derived_incidents",
    "rejects",
    "incident_zones",
    "incident_cells",
)
#: Relations whose rows belong to an agency or are shared by every agency (``agency`` null).
SHARED_RELATIONS = ("zones", "stations", "units")


def agency_list(agency: str | Sequence[str] | None) -> list[str] | None:
    """The agencies of a selection as a list (None: every agency)."""
    if agency is None:
        return None
    return [agency] if isinstance(agency, str) else list(agency)


def _views(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        "select view_name, sql from duckdb_views() where not internal and "
        "database_name = current_database() and schema_name = 'main'"
    ).fetchall()
    return {name: sql for name, sql in rows}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = current_database()"
    ).fetchall()
    return {r[0] for r in rows}


def _where(name: str, names: list[str]) -> str:
    quoted = ", ".join("'" + a.replace("'", "''") + "'" for a in names)
    cond = f"agency in ({quoted})"
    return f"({cond} or agency is null)" if name in SHARED_RELATIONS else cond


def _copy_views(views: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """An in-memory database with ``views`` (created in dependency order)."""
    mem = duckdb.connect()
    mem.execute("set TimeZone = 'UTC'")
    mem.execute("set enable_progress_bar = false")  # DuckDB's own bar would print to stdout
    todo = list(views.items())
    while todo:
        left = []
        for name, sql in todo:
            try:
                mem.execute(sql)
            except duckdb.CatalogException:
                left.append((name, sql))  # a view it reads is not created yet
        if len(left) == len(todo):  # pragma: no cover - a catalog view reading a missing one
            raise AgencyError(
                "cannot scope the catalog to an agency: views "
                + ", ".join(n for n, _ in left)
                + " read relations that do not exist; rebuild it with `dispatch rebuild`"
            )
        todo = left
    return mem


def agency_scope(con: Any, agency: str | Sequence[str] | None) -> duckdb.DuckDBPyConnection:
    """A connection on which every catalog relation holds only ``agency``'s rows.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection or Store
        A connection with the catalog views (a Store is opened read-only).
    agency : str, list of str or None
        One agency, several (taken together) or None / ``"all"`` (every agency: ``con`` itself
        is returned).

    Returns
    -------
    duckdb.DuckDBPyConnection
        A new in-memory connection with the catalog's views, scoped (``con`` when no scope is
        needed); zones, stations and units include the shared ones (``agency`` null).

    Raises
    ------
    AgencyError
        An agency that is not in the store (the message lists the store's agencies).
    """
    if not isinstance(con, duckdb.DuckDBPyConnection) and hasattr(con, "connect"):
        con = con.connect(read_only=True)
    names = agency_list(agency)
    if names is None or names == [ALL]:
        return con
    resolve_agency(con, names)  # unknown names: AgencyError listing the store's agencies
    if set(names) >= set(agency_names(con)):
        return con  # every agency of the store: nothing to leave out
    views = _views(con)
    tables = _tables(con)
    scoped = ("incidents", "responses", *AGENCY_RELATIONS, *SHARED_RELATIONS)
    copy = all(n in views for n in ("responses_all", "_derived_incidents"))
    if copy and not tables & set(scoped):
        mem = _copy_views(views)
        for name in (*AGENCY_RELATIONS, *SHARED_RELATIONS):
            if name in views:
                mem.execute(f"alter view {name} rename to _all_{name}")
                mem.execute(
                    f"create view {name} as select * from _all_{name} where {_where(name, names)}"
                )
        return mem
    # tables (built by hand, or a dashboard snapshot): temporary views of the same names shadow
    # them, and every other view is recreated as a temporary view over those
    tables |= set(views)
    db = con.execute("select current_database()").fetchone()[0]
    for name in scoped:
        if name in tables:
            con.execute(
                f'create or replace temp view {name} as select * from "{db}".main.{name} '
                f"where {_where(name, names)}"
            )
    rest = [
        (n, re.sub(r"^\s*create\s+view\s+", "create or replace temp view ", sql, flags=re.I))
        for n, sql in views.items()
        if n not in scoped
    ]
    for _ in range(len(rest) + 1):
        left = []
        for n, sql in rest:
            try:
                con.execute(sql)
            except duckdb.Error:
                left.append((n, sql))
        if len(left) == len(rest):
            break
        rest = left
    return con
