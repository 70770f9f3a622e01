"""The filter bar's choices and the data-quality tables, for one agency (plain functions over a
:class:`Snapshot`; ``stats`` re-exports them)."""

from __future__ import annotations

import polars as pl

from .data import Snapshot

__all__ = ["rejects_over_time", "outside_zones", "filter_choices"]


def rejects_over_time(snap: Snapshot, agency: str | None = None) -> pl.DataFrame:
    """Rejected rows per local date of their incident (the call's own day, not the day it
    was ingested) and reason; ``local_date`` is null for a row whose incident is not in the
    store (its whole call was rejected)."""
    cond = "true" if agency is None else "r.agency = $a"
    return snap.query(
        "select i.local_date, r.reason, count(*) as n "
        "from rejects_t r left join inc i on i.agency = r.agency and i.incident_id = "
        f"r.incident_id where {cond} group by 1, 2 order by 1 nulls last, 2",
        {} if agency is None else {"a": agency},
    )


def outside_zones(snap: Snapshot, agency: str | None = None) -> pl.DataFrame:
    """Per layer of the agency: incidents outside every zone, and incidents without
    coordinates."""
    rows = []
    cond = "true" if agency is None else "agency = $a"
    p = {} if agency is None else {"a": agency}
    total = snap.query(f"select count(*) as n from inc where {cond}", p)["n"][0]
    for lyr in snap.layers_of(agency):
        r = snap.query(
            f'select count(*) filter (where "zone__{lyr}" is null and latitude is '
            f"not null) as outside, count(*) filter (where latitude is null) as "
            f"no_coordinates from inc where {cond}",
            p,
        ).row(0, named=True)
        rows.append({"layer": lyr, "incidents": total, **r})
    return pl.DataFrame(
        rows,
        schema={
            "layer": pl.String,
            "incidents": pl.Int64,
            "outside": pl.Int64,
            "no_coordinates": pl.Int64,
        },
    )


def filter_choices(snap: Snapshot, agency: str | None = None) -> dict:
    """Values offered by the filter controls, for one agency (default: the snapshot's
    default agency): its call categories, call types, priorities, dates and zone layers."""
    agency = snap.agency(agency)
    p = {"a": agency}
    cond = "agency = $a" if agency is not None else "true"

    def q(sql: str):
        return snap.query(sql.replace("{cond}", cond), p if agency is not None else {})["v"]

    return {
        "agency": agency,
        "agencies": [a for a, _ in snap.agencies],
        "categories": q(
            "select distinct call_category as v from inc where {cond} order by 1"
        ).to_list(),
        "call_types": q(
            "select call_type as v from inc where call_type is not null and {cond} group by 1 "
            "order by count(*) desc limit 200"
        ).to_list(),
        "priorities": q(
            "select distinct priority as v from inc where priority is not null and {cond} "
            "order by 1"
        ).to_list(),
        "date_min": q("select min(local_date) as v from inc where {cond}")[0],
        "date_max": q("select max(local_date) as v from inc where {cond}")[0],
        "layers": snap.layers_of(agency),
    }
