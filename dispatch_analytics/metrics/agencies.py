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

__all__ = ["ALL", "agencies", "agency_names", "newest_agency", "resolve_agency", "agency_label"]

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


def agency_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The agencies of the store, in name order."""
    return sorted(agencies(con)["agency"].to_list())


def newest_agency(con: duckdb.DuckDBPyConnection) -> str | None:
    """The agency with the newest call (the dashboard's default), or None for an empty store."""
    df = agencies(con)
    return None if df.is_empty() else str(df["agency"][0])


def resolve_agency(
    con: duckdb.DuckDBPyConnection, agency: str | Sequence[str] | None
) -> str | list[str] | None:
    """The agency (or agencies) a command works on.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views.
    agency : str, list of str or None
        A name, several names, :data:`ALL` (every agency together) or None (the store's only
        agency).

    Returns
    -------
    str, list of str or None
        One agency's name, a list of names, or None for every agency together.

    Raises
    ------
    AgencyError
        An unknown agency, or None when the store holds several.
    """
    names = agency_names(con)
    listing = ", ".join(names) or "(none: the store holds no calls)"
    if agency is None:
        if len(names) <= 1:
            return names[0] if names else None
        raise AgencyError(
            f"the store holds {len(names)} agencies ({listing}); choose one with "
            f"`--agency NAME`, or `--agency {ALL}` to take them together"
        )
    wanted = [agency] if isinstance(agency, str) else list(agency)
    if wanted == [ALL]:
        return None
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
