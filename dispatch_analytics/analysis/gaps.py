"""Performance gaps: where observed help arrives too late, zone by zone.

For every zone of a layer: the number of calls, the nearest-rank percentile (default the
90th) of an interval with its distribution-free 95% CI (order statistics, from
:meth:`~dispatch_analytics.metrics.fractiles.Fractiles.from_store`), compliance with the
target, the calls over target, and a status:

* ``too few calls``: fewer than ``min_n`` calls (default 30), including none;
* ``at risk``: the CI straddles the target (``ci_low_s <= target_s < ci_high_s``, a missing
  bound counting as unbounded): the data cannot tell meeting from failing;
* ``meeting``: the whole CI is at or below the target;
* ``failing``: the whole CI is above the target.

Zones are ranked by the number of calls over target (then by the percentile).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from ..errors import CoverageError, MetricError
from ..metrics.fractiles import Fractiles
from ._planning import (
    check_agency,
    check_target,
    date_range,
    local_bounds,
    pick_layer,
    scoped_connect,
    store_root,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["Gaps", "STATUSES", "GAP_COLUMNS", "gap_status"]

#: Statuses, best first.
STATUSES: tuple[str, ...] = ("meeting", "at risk", "failing", "too few calls")

#: The numeric and text columns of :attr:`Gaps.table` (and of the GeoDataFrame).
GAP_COLUMNS: dict[str, str] = {
    "rank": "1 = most calls over target",
    "zone_id": "zone id in the layer",
    "name": "zone name",
    "n": "calls with the interval",
    "n_over_target": "calls whose interval exceeds target_s",
    "percentile": "the percentile compared with the target (nearest-rank)",
    "p_value_s": "that percentile, seconds",
    "ci_low_s": "lower bound of its 95% order-statistic CI, seconds (null: unbounded)",
    "ci_high_s": "upper bound of its 95% order-statistic CI, seconds (null: unbounded)",
    "target_s": "the target, seconds",
    "compliance": "share of calls at or under target_s (0-1)",
    "status": "meeting, at risk (CI straddles target), failing, too few calls",
}


def gap_status(n: int, ci_low: float | None, ci_high: float | None, target_s: float, min_n: int):
    """The status of one zone (see the module docstring)."""
    if n < max(min_n, 1):
        return "too few calls"
    low = float("-inf") if ci_low is None else ci_low
    high = float("inf") if ci_high is None else ci_high
    if low <= target_s < high:
        return "at risk"
    return "meeting" if high <= target_s else "failing"


def _resolve_target(std_name, metric: str, target_s, percentile):
    """(target_s, percentile, entry key or None) from the arguments or the profile."""
    if target_s is not None:
        return check_target(target_s), float(percentile or 90), None
    from ..metrics.standards import load_standard

    try:
        std = load_standard(std_name)
    except Exception as exc:
        raise CoverageError(f"`profile` {std_name!r}: {exc}") from None
    for spec in std.entries(metric, "incident"):
        if spec.target_s is not None and not spec.by_density_class:
            return float(spec.target_s), float(percentile or spec.percentile), spec.key
    raise CoverageError(
        f"profile {std.name} sets no incident-level target for `metric` {metric!r}; "
        "pass `target_s` (--target-s SECONDS)"
    )


@dataclass
class Gaps:
    """Observed performance per zone against a target. Build with :meth:`from_store`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per zone of the layer (zones without calls included), ranked: the columns
        of :data:`GAP_COLUMNS`.
    zones : geopandas.GeoDataFrame
        The layer's polygons (EPSG:4326), ``zone_id`` and ``geometry``.
    layer, metric : str
    target_s, percentile : float
    min_n : int
    n_outside : int
        Calls with the interval outside every zone of the layer (not in the table).
    fractiles : Fractiles
        The fractile computation behind the table.
    metadata : dict
        Date range, profile, method, definitions: what an export must state.
    """

    table: pl.DataFrame
    zones: Any
    layer: str
    metric: str
    target_s: float
    percentile: float
    min_n: int
    n_outside: int
    fractiles: Fractiles
    metadata: dict = field(default_factory=dict)

    # Long: the parameter checks, the scoped Fractiles call and the result's metadata in one
    # place (81 lines since it passes agency="all" to the already scoped connection)
    @classmethod
    def from_store(
        cls,
        store: Any,
        layer: str | None = None,
        metric: str = "travel",
        target_s: float | None = None,
        profile: str | None = "nfpa1710",
        percentile: float | None = None,
        min_n: int = 30,
        filters: dict | None = None,
        date_from: Any = None,
        date_to: Any = None,
        agency: str | None = None,
    ) -> Gaps:
        """Compute the gaps of every zone of ``layer``.

        Parameters
        ----------
        store : Store
            The store (its catalog is opened read-only).
        layer : str, optional
            A loaded zone layer (default: the only one loaded).
        metric : str
            An incident interval: ``travel`` (first-arriving unit), ``total_response``,
            ``turnout``, ``call_processing``...
        target_s : float, optional
            The target; default the profile's (NFPA 1710 travel: 240 s).
        profile : str
            The standards profile supplying the default target and percentile.
        percentile : float, optional
            Default the profile entry's, else 90.
        min_n : int
            Zones with fewer calls are ``too few calls``.
        filters : dict, optional
            As :meth:`Fractiles.from_store` (call_category, priority, since, until, ...).
        date_from, date_to : str or date, optional
            Local dates (YYYY-MM-DD, inclusive) in the agency time zone.
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).

        Returns
        -------
        Gaps

        Raises
        ------
        CoverageError
            A target that is not a positive number, no target, an empty layer, a bad metric.
        ZoneError
            The layer is not loaded.
        """
        from ..spatial.layers import read_layer

        check_agency(agency)
        if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 0:
            raise CoverageError(f"`min_n` must be a whole number >= 0, got {min_n!r}")
        root = store_root(store)
        layer = pick_layer(root, layer)
        zones = read_layer(root, layer)
        if len(zones) == 0:
            raise CoverageError(
                f"layer {layer!r} has no zones; reload it with `dispatch zones load`"
            )
        target, pct, entry = _resolve_target(profile, metric, target_s, percentile)
        con = scoped_connect(store, agency)
        try:
            try:
                filters = {**(filters or {}), **local_bounds(con, date_from, date_to)}
                fr = Fractiles.from_store(
                    con,
                    agency="all",  # the connection is already scoped
                    metric=metric,
                    by=(f"layer:{layer}",),
                    percentiles=(pct,),
                    target_s=target if entry is None else None,
                    entry=entry,
                    profile=profile,
                    percentile=pct,
                    min_n=min_n,
                    filters=filters,
                )
            except MetricError as exc:
                raise CoverageError(str(exc)) from None
            dates = date_range(con)
        finally:
            con.close()
        table, n_outside = _gap_table(fr.table, zones, target, pct, min_n)
        meta = {
            "analysis": "performance gaps",
            "layer": layer,
            **fr.metadata,
            "target_s": target,
            "percentile": pct,
            "min_n": min_n,
            "n_outside_layer": n_outside,
            "date_range": dates,
            "date_from": str(date_from) if date_from else None,
            "date_to": str(date_to) if date_to else None,
            "status_rules": {
                "too few calls": f"n < {min_n}",
                "at risk": "ci_low_s <= target_s < ci_high_s (a null bound is unbounded)",
                "meeting": "ci_high_s <= target_s",
                "failing": "ci_low_s > target_s",
            },
            "columns": GAP_COLUMNS,
        }
        return cls(
            table=table,
            zones=zones[["zone_id", "geometry"]],
            layer=layer,
            metric=metric,
            target_s=target,
            percentile=pct,
            min_n=min_n,
            n_outside=n_outside,
            fractiles=fr,
            metadata=meta,
        )

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The table joined to the zone polygons (EPSG:4326), ranked."""
        import geopandas as gpd

        pdf = self.table.to_pandas()
        g = self.zones.merge(pdf, on="zone_id", how="right")
        return gpd.GeoDataFrame(g, geometry="geometry", crs="EPSG:4326")

    def export_meta(self):
        """The :class:`~dispatch_analytics.io.export_meta.ExportMeta` of
        :meth:`to_geodataframe` (what ``dispatch export gaps`` writes)."""
        from ..io.export_meta import ColumnInfo, ExportMeta

        m = self.metadata
        d = m["date_range"]
        rules = "; ".join(f"{k}: {v}" for k, v in m["status_rules"].items())
        cols = [
            ColumnInfo(k, f"{v} ({rules})" if k == "status" else v) for k, v in GAP_COLUMNS.items()
        ]
        for c in cols:
            if c.name in ("p_value_s", "ci_low_s", "ci_high_s", "n", "n_over_target"):
                c.definition += f"; {self.metric}: {m.get('start')} -> {m.get('end')}"
        return ExportMeta(
            title=f"Performance gaps: {self.metric} p{self.percentile:g} vs "
            f"{self.target_s:g} s by zone, layer {self.layer}",
            kind="gaps",
            columns=cols,
            date_from=m.get("date_from") or d.get("first_local_date"),
            date_to=m.get("date_to") or d.get("last_local_date"),
            profile=m.get("profile"),
            details={
                k: m[k]
                for k in (
                    "filters",
                    "layer",
                    "metric",
                    "start",
                    "end",
                    "basis",
                    "method",
                    "ci_method",
                    "target_s",
                    "percentile",
                    "min_n",
                    "n_outside_layer",
                    "status_rules",
                )
                if k in m
            },
            notes=list(m.get("notes", [])),
        )

    def status_counts(self) -> dict[str, int]:
        """Zones per status."""
        counts = dict(self.table.group_by("status").len().iter_rows())
        return {s: int(counts.get(s, 0)) for s in STATUSES}


def _blank(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def _gap_table(fr: pl.DataFrame, zones, target: float, pct: float, min_n: int):
    """Every zone of the layer (left join), the status, the rank; and the calls outside."""
    outside = fr.filter(pl.col("zone_id").is_null())
    n_outside = int(outside["n"].sum()) if outside.height else 0
    base = pl.DataFrame(
        {
            "zone_id": [str(z) for z in zones["zone_id"]],
            "name": [None if _blank(n) else str(n) for n in zones["name"]],
        },
        schema={"zone_id": pl.String, "name": pl.String},
    )
    stats = fr.filter(pl.col("zone_id").is_not_null()).select(
        "zone_id", "n", "p_value_s", "ci_low_s", "ci_high_s", "compliance"
    )
    t = base.join(stats, on="zone_id", how="left").with_columns(
        pl.col("n").fill_null(0).cast(pl.Int64),
        pl.lit(pct).alias("percentile"),
        pl.lit(target).alias("target_s"),
    )
    t = t.with_columns(
        (pl.col("n") - (pl.col("compliance").fill_null(0.0) * pl.col("n")).round(0))
        .cast(pl.Int64)
        .alias("n_over_target")
    )
    status = [
        gap_status(n, lo, hi, target, min_n)
        for n, lo, hi in t.select("n", "ci_low_s", "ci_high_s").iter_rows()
    ]
    t = t.with_columns(pl.Series("status", status, dtype=pl.String)).sort(
        ["n_over_target", "p_value_s"], descending=True, nulls_last=True
    )
    t = t.with_columns(pl.int_range(1, t.height + 1, dtype=pl.Int64).alias("rank"))
    return t.select(list(GAP_COLUMNS)), n_outside
