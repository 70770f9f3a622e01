"""The filter bar's choices and the data-quality tables, for one agency (plain functions over a
:class:`Snapshot`; ``stats`` re-exports them)."""

from __future__ import annotations

import polars as pl

from .data import Snapshot
from .filters import Filters, where_sql

__all__ = ["rejects_over_time", "outside_zones", "filter_choices", "profile_line"]


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
            "order by count(*) desc, 1 limit 200"
        ).to_list(),
        "priorities": q(
            "select distinct priority as v from inc where priority is not null and {cond} "
            "order by 1"
        ).to_list(),
        "date_min": q("select min(local_date) as v from inc where {cond}")[0],
        "date_max": q("select max(local_date) as v from inc where {cond}")[0],
        "layers": snap.layers_of(agency),
    }


def profile_line(snap: Snapshot, f: Filters) -> str:
    """Which standards profile the page applies and why (chosen, the agency's configured
    one, or the dashboard's default), and how many of the selected calls its ``[scope]``
    leaves out (e.g. "312 police calls not judged against NFPA 1710")."""
    from dispatch_analytics.metrics.standards import StandardError, load_standard

    try:
        std = load_standard(f.profile)
    except StandardError:
        return f"Standards: {f.profile!r} is not a standards profile; choose one in the bar"
    why = {
        "chosen": "chosen",
        "agency": f"{f.agency}'s profile",
        "default": "the dashboard's default",
    }[f.profile_source]
    line = f"Standards: {std.display_name} ({why})"
    cats = list(std.exclude_call_categories)
    if not cats:
        return line
    where, params = where_sql(f)
    rows = snap.query(
        f"select lower(call_category) as c, count(*) as n from inc where {where} "
        "and list_contains($scope_cats, lower(call_category)) group by 1",
        {**params, "scope_cats": cats},
    )
    counts = dict(zip(rows["c"].to_list(), rows["n"].to_list(), strict=True))
    left = [f"{counts[c]:,} {c}" for c in cats if counts.get(c)]
    if left:
        line += f" · {' and '.join(left)} calls not judged against {std.display_name}"
    return line
