"""Reliability: how stretched each station area, station and unit is.

::

    from dispatch_analytics.analysis.reliability import Reliability
    rel = Reliability.from_store(con, layer="station_areas", start="2024-01-01", end="2024-03-31")
    rel.first_due        # per station area: first-due reliability (sql/first_due_reliability)
    rel.cross_area       # long: area x responding station (sql/cross_area_responses)
    rel.cross_area_matrix()   # the same, pivoted: areas as rows, stations as columns
    rel.concurrency      # per area (or per hour without a layer): sql/call_concurrency
    rel.utilization      # per unit: committed_h, window_h, uhu (sql/unit_hour_utilization)
    rel.utilization_by_hour   # per unit and local hour (sql/unit_hour_utilization_by_hour)
    rel.busy_share       # per station and hour band: MEXCLP busy fraction (sql/station_busy_share)

Every table comes from a named query in ``dispatch_analytics/sql/``, so analysts, the CLI and
the dashboard read the same definitions. The window is local dates, ``start`` and ``end`` both
inclusive (the queries take ``to_date`` = end + 1 day, exclusive); without them it spans the
data. A roster (``roster=``, see :mod:`.roster`) replaces the window by each unit's staffed
hours for the utilisation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import AnalysisError
from ..metrics.queries import run_query
from ..sql import read_sql
from ._common import check_agency, check_layer, check_window, connection, sql_window, store_timezone
from .roster import read_roster

__all__ = [
    "Reliability",
    "TABLES",
    "unit_hour_utilization",
    "station_busy_share",
    "pivot_cross_area",
]

#: The tables of a reliability result, in print order.
TABLES = (
    "first_due",
    "cross_area",
    "concurrency",
    "utilization",
    "utilization_by_hour",
    "busy_share",
)


def unit_hour_utilization(
    con: Any, start: Any = None, end: Any = None, roster: Any = None
) -> pl.DataFrame:
    """Unit-hour utilisation per unit over local dates ``start``..``end`` (inclusive; default
    the data's span): ``unit_id, committed_h, window_h, uhu, responses, missing_cleared,
    missing_dispatched`` (and ``committed_unstaffed_h`` with a ``roster``: a file or frame of
    ``unit_id, start, end``, whose staffed hours then make the window)."""
    con = connection(con)
    problems: list[str] = []
    a, b = check_window(start, end, problems)
    if problems:
        raise AnalysisError(problems, "cannot compute unit-hour utilisation")
    lo, hi = sql_window(con, a, b)
    if roster is None:
        return run_query(con, "unit_hour_utilization", {"from_date": lo, "to_date": hi})
    ros = read_roster(roster, store_timezone(con))
    con.register("roster", ros)
    try:
        return con.execute(
            read_sql("_unit_hour_utilization_roster"),
            {"from_date": lo, "to_date": hi, "agency": None},
        ).pl()
    finally:
        con.unregister("roster")


def station_busy_share(
    con: Any, start: Any = None, end: Any = None, band_h: int = 4
) -> pl.DataFrame:
    """Per station and local hour band: ``n_units, committed_h, unit_window_h, busy_share``
    (the chance that one of the station's units is busy at a random moment of the band; the
    busy fraction MEXCLP-style coverage models take). ``band_h`` must divide 24."""
    con = connection(con)
    problems: list[str] = []
    a, b = check_window(start, end, problems)
    if isinstance(band_h, bool) or not isinstance(band_h, int) or band_h < 1 or 24 % band_h:
        problems.append(f"`band_h` must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24), got {band_h!r}")
    if problems:
        raise AnalysisError(problems, "cannot compute station busy shares")
    lo, hi = sql_window(con, a, b)
    return run_query(con, "station_busy_share", {"from_date": lo, "to_date": hi, "band_h": band_h})


def pivot_cross_area(long: pl.DataFrame, value: str = "n_responses") -> pl.DataFrame:
    """The cross-area table as a matrix: one row per area (``zone_id``), one column per
    responding station (ordered by id), cells ``value`` (0 where none)."""
    if long.height == 0:
        return pl.DataFrame(schema={"zone_id": pl.String})
    stations = sorted(long["station_id"].unique().to_list())
    wide = long.pivot(on="station_id", index="zone_id", values=value, aggregate_function="sum")
    return (
        wide.select("zone_id", *[s for s in stations if s in wide.columns])
        .with_columns(pl.exclude("zone_id").fill_null(0))
        .sort("zone_id", nulls_last=True)
    )


@dataclass
class Reliability:
    """First-due reliability, cross-area responses, call concurrency, unit-hour utilisation and
    station busy shares over one window. Build with :meth:`from_store`.

    Attributes
    ----------
    first_due, cross_area : polars.DataFrame or None
        Per station area of ``layer`` (None without a layer).
    concurrency : polars.DataFrame
        Per zone of ``layer`` (per local hour without a layer).
    concurrency_by_hour : polars.DataFrame
        Per local hour, the whole area.
    utilization, utilization_by_hour, busy_share : polars.DataFrame
    layer : str or None
    start, end : datetime.date
        The window, local dates, both inclusive.
    roster : bool
        Whether a roster set the utilisation's staffed hours.
    notes : list of str
    """

    first_due: pl.DataFrame | None
    cross_area: pl.DataFrame | None
    concurrency: pl.DataFrame
    concurrency_by_hour: pl.DataFrame
    utilization: pl.DataFrame
    utilization_by_hour: pl.DataFrame
    busy_share: pl.DataFrame
    layer: str | None
    start: dt.date
    end: dt.date
    band_h: int = 4
    roster: bool = False
    notes: list[str] = field(default_factory=list)

    # Long: validation, then one named query per table
    @classmethod
    def from_store(
        cls,
        con: Any,
        layer: str | None = None,
        start: Any = None,
        end: Any = None,
        roster: Any = None,
        band_h: int = 4,
        agency: str | None = None,
    ) -> Reliability:
        """Every reliability table over local dates ``start``..``end`` (inclusive).

        Parameters
        ----------
        con : DuckDB connection with the catalog views, or a Store
        layer : zone layer of first-due station areas (its zone_id = the station_id of the
            area's station); without it first_due and cross_area are None and concurrency
            is by hour
        start, end : local dates (``date`` or ``YYYY-MM-DD``), both inclusive; default the
            data's first / last day
        roster : a roster file or frame (``unit_id, start, end``) for the utilisation window
        band_h : hours per band of the station busy share (divides 24)
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).

        Raises
        ------
        AnalysisError
            Every invalid option at once (unknown layer, bad dates, bad band), each with its
            fix; or an invalid roster.
        """
        con = connection(con)
        problems: list[str] = []
        check_agency(agency, problems, con)
        a, b = check_window(start, end, problems, ("start", "end"))
        check_layer(con, layer, "layer", problems)
        if isinstance(band_h, bool) or not isinstance(band_h, int) or band_h < 1 or 24 % band_h:
            problems.append(f"`band_h` must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24), got {band_h!r}")
        if problems:
            raise AnalysisError(problems, "cannot compute reliability")
        con = connection(con, agency)  # every relation below: the agency's rows only
        lo, hi = sql_window(con, a, b)
        win = {"from_date": lo, "to_date": hi}
        first_due = cross = None
        notes = []
        if layer is not None:
            first_due = run_query(con, "first_due_reliability", {"station_layer": layer, **win})
            cross = run_query(con, "cross_area_responses", {"station_layer": layer, **win})
            ids = set(cross["station_id"].to_list())
            if cross.height and not ids & set(cross["zone_id"].drop_nulls().to_list()):
                notes.append(
                    f"no zone_id of layer {layer!r} is a station_id of the responses: it is "
                    "not a station-area layer, so first-due reliability is 0 and no response "
                    "is in-area"
                )
            elif cross.height and cross["own_area"].fill_null(False).all():
                notes.append(
                    "every unit response carries its incident's area as station_id (as in "
                    "the SFFD export): first-due reliability and the cross-area matrix are "
                    "then trivially in-area; they need the unit's HOME station"
                )
        conc = run_query(
            con,
            "call_concurrency",
            {"layer": layer, "by": "zone" if layer else "hour", **win},
        )
        conc_hour = run_query(con, "call_concurrency", {"by": "hour", **win})
        util = unit_hour_utilization(con, lo, hi - dt.timedelta(days=1), roster)
        by_hour = run_query(con, "unit_hour_utilization_by_hour", win)
        busy = run_query(con, "station_busy_share", {**win, "band_h": band_h})
        missing = int(util["missing_cleared"].sum()) if util.height else 0
        if missing:
            notes.append(
                f"{missing} responses have no cleared time: they add no committed time "
                "(column missing_cleared)"
            )
        notes.append(
            "a unit's station for busy_share is the station_id it carries most often (read "
            "as its home station)"
        )
        if roster is not None:
            notes.append("utilisation window: each unit's staffed hours from the roster")
        return cls(
            first_due=first_due,
            cross_area=cross,
            concurrency=conc,
            concurrency_by_hour=conc_hour,
            utilization=util,
            utilization_by_hour=by_hour,
            busy_share=busy,
            layer=layer,
            start=lo,
            end=hi - dt.timedelta(days=1),
            band_h=band_h,
            roster=roster is not None,
            notes=notes,
        )

    def cross_area_matrix(self, value: str = "n_responses") -> pl.DataFrame | None:
        """:attr:`cross_area` pivoted: areas as rows, responding stations as columns."""
        return None if self.cross_area is None else pivot_cross_area(self.cross_area, value)

    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables that exist (first_due / cross_area need a layer), in :data:`TABLES`
        order."""
        out = {}
        for name in TABLES:
            t = getattr(self, name)
            if t is not None:
                out[name] = t
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        """The window, the layer and the notes."""
        return {
            "analysis": "reliability",
            "layer": self.layer,
            "start": str(self.start),
            "end": str(self.end),
            "window": "local dates, start and end inclusive",
            "band_h": self.band_h,
            "roster": self.roster,
            "notes": list(self.notes),
        }
