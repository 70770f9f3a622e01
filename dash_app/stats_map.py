"""The hexagon map's numbers, per agency: the extent of the filtered calls and the interval per
H3 cell, at the stored resolution or grouped by parent cell (a map of a wide area). Every
percentile and compliance comes from the library's fractile macro (through
:func:`dash_app.stats.interval_table`)."""

from __future__ import annotations

import polars as pl

from .data import Snapshot
from .filters import Filters, where_sql
from .results_cache import shared
from .stats import Target, interval_table

__all__ = ["hex_bounds", "hex_stats"]


def _parent_table(snap: Snapshot, resolution: int) -> str:
    """A snapshot table ``h3_cell -> parent`` (the cell's parent at ``resolution``), built
    once per data version; its name."""
    name = f"hex_parent_{int(resolution)}"

    def build():
        import h3

        cells = snap.query("select distinct h3_cell from inc where h3_cell is not null")
        c = cells["h3_cell"].to_list()
        parents = pl.DataFrame(
            {"h3_cell": c, "parent": [h3.cell_to_parent(x, int(resolution)) for x in c]},
            schema={"h3_cell": pl.String, "parent": pl.String},
        )
        with snap.cursor() as cur:
            cur.register("_parents", parents)
            cur.execute(f"create or replace table {name} as select * from _parents")
        return name

    return snap.memo(("hex_parent", int(resolution)), build)


@shared("hex_bounds")
def hex_bounds(snap: Snapshot, f: Filters) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of the filtered incidents' coordinates (None: none)."""
    where, params = where_sql(f)
    r = snap.query(
        "select min(longitude) as w, min(latitude) as s, max(longitude) as e, "
        f"max(latitude) as n from inc where latitude is not null and {where}",
        params,
    ).row(0)
    return None if r[0] is None else tuple(float(x) for x in r)


@shared("hex_stats")
def hex_stats(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, resolution: int | None = None
) -> pl.DataFrame:
    """Per H3 cell: volume and late-response rate (share of the interval over target).

    ``resolution`` coarser than the stored cells' groups them by their parent cell (a map of
    a wide area); None keeps the stored resolution."""
    schema = {"h3_cell": pl.String, "volume": pl.Int64, "late_rate": pl.Float64}
    if not snap.has_cells:
        return pl.DataFrame(schema=schema)
    key = "s.h3_cell"
    if resolution is not None:
        stored = snap.query("select any_value(h3_cell) as c from inc where h3_cell is not null")
        import h3

        if stored["c"][0] and resolution < h3.get_resolution(stored["c"][0]):
            table = _parent_table(snap, resolution)
            key = f"(select p.parent from {table} p where p.h3_cell = s.h3_cell)"
    df = interval_table(
        snap,
        f,
        {metric: (target_s, 90.0)},
        keys={"h3_cell": key},
        where="h3_cell is not null",
    )
    return df.select("h3_cell", "volume", (1 - pl.col("compliance")).alias("late_rate"))
