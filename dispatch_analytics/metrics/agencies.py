"""The agencies of a store: which exist, which one a command means.

A store can hold several agencies (a regional dispatch centre, a state EMS office). Every
metric is computed per agency or, only when asked, across a chosen set: a command that is
given no agency uses the store's only agency, and refuses to guess when there are several.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from ..errors import AgencyError

__all__ = [
    "ALL",
    "agencies",
    "agency_counts",
    "agency_names",
    "agency_status",
    "newest_agency",
    "resolve_agency",
    "agency_label",
]

#: The value that selects every agency together (``--agency all``).
ALL = "all"


def agencies(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per agency of the store, newest data first.

    Returns
    -------
    polars.DataFrame
        ``agency, incidents, first_received_at, last_received_at, timezone`` (the most common
        time zone of its calls).
    """
    return con.execute(
        "select agency, count(*) as incidents, min(call_received_at) as first_received_at, "
        "max(call_received_at) as last_received_at, mode(timezone) as timezone "
        "from incidents where agency is not null group by agency "
        "order by last_received_at desc nulls last, agency"
    ).pl()


_STATUS_SQL = """
with accepted as (
  select agency, count(*) as rows_accepted, list(distinct batch_id) as batch_ids
  from responses_all group by agency
), rejected as (
  select agency, count(*) as rows_rejected, list(distinct batch_id) as batch_ids
  from rejects group by agency
), current_rows as (
  select agency, count(*) as responses,
    count(*) filter (where time_flags is not null or stage_flags is not null) as flagged_rows,
    count(distinct unit_id) as units
  from responses group by agency
), calls as (
  select agency, count(*) as incidents, mode(timezone) as timezone,
    min(call_received_local_at)::date as first_call_date,
    max(call_received_local_at)::date as last_call_date
  from incidents group by agency
), layers as (
  select agency, list(distinct layer order by layer) as zone_layers
  from zones where agency is not null group by agency
), station_counts as (
  select agency, count(*) as stations from stations where agency is not null group by agency
), names as (
  select agency from accepted union select agency from rejected
)
select
  n.agency, c.timezone, coalesce(c.incidents, 0) as incidents,
  coalesce(r.responses, 0) as responses, coalesce(a.rows_accepted, 0) as rows_accepted,
  coalesce(j.rows_rejected, 0) as rows_rejected,
  len(list_distinct(list_concat(coalesce(a.batch_ids, []), coalesce(j.batch_ids, []))))
    as batches,
  c.first_call_date, c.last_call_date, coalesce(r.flagged_rows, 0) as flagged_rows,
  coalesce(r.units, 0) as units, coalesce(l.zone_layers, []) as zone_layers,
  coalesce(s.stations, 0) as stations
from names n
left join accepted a on a.agency is not distinct from n.agency
left join rejected j on j.agency is not distinct from n.agency
left join current_rows r on r.agency is not distinct from n.agency
left join calls c on c.agency is not distinct from n.agency
left join layers l on l.agency is not distinct from n.agency
left join station_counts s on s.agency is not distinct from n.agency
order by n.agency nulls last
"""


def agency_status(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """What the store holds per agency (``dispatch status``).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views.

    Returns
    -------
    polars.DataFrame
        One row per agency (a null ``agency`` for rows that name none, e.g. rejected before
        their agency was read): ``agency, timezone`` (the most common of its calls),
        ``incidents, responses`` (current unit rows), ``rows_accepted, rows_rejected``,
        ``batches`` (batches that brought rows of it), ``first_call_date, last_call_date``
        (local dates in its time zone), ``flagged_rows`` (rows kept with a time or stage flag),
        ``units``, ``zone_layers`` (layers of its own; shared layers have a null agency) and
        ``stations`` (its own). Summed over agencies, ``rows_accepted + rows_rejected`` is the
        store's rows read.
    """
    # the Arrow C stream, not .pl() (which imports pyarrow): `dispatch status` needs no pyarrow
    return pl.DataFrame(con.sql(_STATUS_SQL))


def agency_counts(
    con: duckdb.DuckDBPyConnection,
    agency: str | Sequence[str] | None,
    date_from: Any = None,
    date_to: Any = None,
) -> dict[str, int]:
    """Incidents of each agency of a selection, within local dates (both inclusive; None: no
    bound): what an export or a report says it covers.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views.
    agency : str, list of str or None
        The selection (a name, several names, :data:`ALL` or None: every agency).
    date_from, date_to : date or ``YYYY-MM-DD`` text, optional
        The local dates of the calls counted.

    Returns
    -------
    dict of str to int
        Agency -> incidents, in name order (agencies without a call in the window: 0).
    """
    names = [agency] if isinstance(agency, str) else list(agency) if agency else []
    if names == [ALL]:
        names = []
    chosen = names or agency_names(con)
    rows = con.execute(
        "select agency, count(*) from incidents where list_contains($names, agency) "
        "and ($d0::date is null or call_received_local_at::date >= $d0::date) "
        "and ($d1::date is null or call_received_local_at::date <= $d1::date) group by agency",
        {
            "names": chosen,
            "d0": str(date_from) if date_from else None,
            "d1": str(date_to) if date_to else None,
        },
    ).fetchall()
    found = dict(rows)
    return {a: int(found.get(a, 0)) for a in sorted(chosen)}


# whether `incidents` and `responses_all` are the catalog's own views (not a table or a
# temporary view of a snapshot, a test or an agency scope standing in for one of them)
_CATALOG_VIEWS = (
    "select count(*) filter (where not temporary) = 2 and count(*) filter (where temporary) = 0 "
    "and not exists (select 1 from duckdb_tables() where table_name in "
    "('incidents', 'responses_all')) from duckdb_views() "
    "where view_name in ('incidents', 'responses_all')"
)


def agency_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The agencies of the store, in name order."""
    # the names alone, not :func:`agencies`' counts, times and modal time zone: every
    # command resolves its agency through here. Over the catalog's views the unit rows give
    # the same names as the incidents (each incident is its rows' `agency`) for a scan of one
    # column: at 1M incidents 25 ms, against 81 ms through `incidents` (132 ms for the full
    # aggregate); anything standing in for those views is asked through `incidents`
    own = con.execute(_CATALOG_VIEWS).fetchone()
    source = "responses_all" if own and own[0] else "incidents"
    rows = con.execute(f"select distinct agency from {source} where agency is not null").fetchall()
    return sorted(r[0] for r in rows)


def newest_agency(con: duckdb.DuckDBPyConnection) -> str | None:
    """The agency with the newest call (the dashboard's default), or None for an empty store."""
    df = agencies(con)
    return None if df.is_empty() else str(df["agency"][0])


def resolve_agency(
    con: duckdb.DuckDBPyConnection, agency: str | Sequence[str] | None, python: bool = False
) -> str | list[str] | None:
    """The agency (or agencies) a command works on.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views.
    agency : str, list of str or None
        A name, several names, :data:`ALL` (every agency together) or None (the store's only
        agency).
    python : bool
        Word the fix for a Python caller (``agency="SFFD"``) rather than the command line
        (``--agency SFFD``).

    Returns
    -------
    str, list of str or None
        One agency's name, a list of names, or None for every agency together.

    Raises
    ------
    AgencyError
        An unknown agency, or None when the store holds several.
    """
    if agency == ALL or (isinstance(agency, list | tuple) and list(agency) == [ALL]):
        return None  # every agency together: nothing to look up (a report asks once per entry)
    names = agency_names(con)
    listing = ", ".join(names) or "(none: the store holds no calls)"
    if agency is None:
        if len(names) <= 1:
            return names[0] if names else None
        if python:
            raise AgencyError(
                f"the store holds {len(names)} agencies ({listing}); choose one with "
                f'`agency="{names[0]}"`, or `agency="{ALL}"` to take them together'
            )
        raise AgencyError(
            f"the store holds {len(names)} agencies ({listing}); choose one with "
            f"`--agency NAME`, or `--agency {ALL}` to take them together"
        )
    wanted = [agency] if isinstance(agency, str) else list(agency)
    unknown = [a for a in wanted if a not in names]
    if unknown:
        raise AgencyError(
            f"`agency` {', '.join(repr(a) for a in unknown)} is not in the store; its agencies: "
            f"{listing}"
        )
    return wanted[0] if len(wanted) == 1 else wanted


def agency_label(agency: Any, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """How outputs name the selection: the agency, or "all agencies (A, B) together"."""
    if agency is None:
        names = agency_names(con) if con is not None else []
        inner = f" ({', '.join(names)})" if names else ""
        return f"all agencies{inner} together" if len(names) != 1 else names[0]
    if isinstance(agency, list | tuple):
        return f"agencies {', '.join(agency)} together"
    return str(agency)
