"""Hotspots: where calls, or late responses, cluster beyond chance (Getis-Ord Gi* on H3 cells).

::

    from dispatch_analytics.analysis.hotspots import Hotspots
    hs = Hotspots.from_store(con, metric="volume", resolution=8, seed=0)
    hs.table            # h3_cell, latitude, longitude, n, z, p, p_fdr, class
    hs.metadata         # what was tested, how, and the counts
    hs.to_geodataframe()  # cell polygons, EPSG:4326

Two metrics:

* ``volume``: the number of calls in each cell of the **study area**. Every cell of the area is
  tested, including cells without a call (as zeros: leaving them out would compare busy cells
  only with other busy cells and bias Gi*). The study area is the set of cells whose centre
  lies in the convex hull of the incidents (default) or in the union of a zone layer's
  polygons (``study_area=<layer>``; incidents outside every zone are then left out and
  counted), plus every cell that holds an incident.
* ``late_rate``: the share of calls whose ``interval`` exceeds the target. Only cells with at
  least ``min_n`` measured calls are tested (a rate of 1 of 2 says nothing); the others are
  classed ``too few``. Weights link the tested cells only.

Significance: Gi* two-sided p-values from ``permutations`` conditional permutations (seeded),
then the Benjamini-Hochberg false-discovery-rate correction over the tested cells (``fdr``);
a cell is ``hot`` (``cold``) when its corrected p-value is at most ``alpha`` and z > 0 (< 0).
See :mod:`.gistar` for the weights and the p-value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import AnalysisError
from . import gistar
from ._common import (
    INCIDENT_INTERVALS,
    check_agency,
    check_layer,
    check_window,
    connection,
    resolve_target,
)

__all__ = ["Hotspots", "METRICS", "check_options", "load_points", "layer_union"]

METRICS = ("volume", "late_rate")


def check_options(
    problems: list[str],
    metric: str,
    resolution: int,
    alpha: float,
    permutations: int,
    min_n: int,
    k: int,
) -> None:
    """Record a problem for every invalid Gi* option."""
    if metric not in METRICS:
        problems.append(f"`metric` {metric!r} must be one of {', '.join(METRICS)}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 0 <= resolution <= 15:
        problems.append(f"`resolution` must be an H3 resolution 0..15, got {resolution!r}")
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        problems.append(f"`alpha` must be a significance level in (0, 1), e.g. 0.05; got {alpha!r}")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 0:
        problems.append(
            f"`permutations` must be a whole number >= 0 (0 = normal approximation), "
            f"got {permutations!r}"
        )
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
        problems.append(f"`min_n` must be a whole number >= 1, got {min_n!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        problems.append(f"`k` (neighbour rings) must be a whole number >= 1, got {k!r}")


def layer_union(con, layer: str):
    """The union of a zone layer's polygons (shapely, lon/lat)."""
    import shapely

    rows = con.execute(
        "select geometry from zones where layer = $layer and geometry is not null",
        {"layer": layer},
    ).fetchall()
    geoms = shapely.from_wkb([bytes(r[0]) for r in rows])
    return shapely.union_all(geoms) if len(geoms) else None


def load_points(
    con,
    interval: str | None,
    start: dt.date | None,
    end: dt.date | None,
    call_category: str | None,
    layer: str | None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Incidents with coordinates in the window: ``latitude, longitude, value_s, local_date``;
    and counts (``n_incidents`` in the window, ``n_unlocated``, ``n_outside`` the layer)."""
    value = f"i.{interval}_s" if interval else "null::double"
    where: list[str] = ["true"]
    params: dict[str, Any] = {}
    if start is not None:
        where.append("cast(i.call_received_local_at as date) >= $start")
        params["start"] = start
    if end is not None:
        where.append("cast(i.call_received_local_at as date) <= $end")
        params["end"] = end
    if call_category is not None:
        where.append("i.call_category = $cat")
        params["cat"] = call_category
    join, inside = "", "true"
    if layer is not None:
        join = "left join incident_zones z on z.agency = i.agency and z.incident_id = i.incident_id and z.layer = $layer"
        params["layer"] = layer
        inside = "z.zone_id is not null"
    df = con.execute(
        f"""
        select i.latitude, i.longitude, {value} as value_s,
          cast(i.call_received_local_at as date) as local_date,
          i.latitude is not null and i.longitude is not null as located, {inside} as inside
        from incidents i {join}
        where {" and ".join(where)}
        """,
        params,
    ).pl()
    counts = {
        "n_incidents": df.height,
        "n_unlocated": int((~df["located"]).sum()) if df.height else 0,
        "n_outside": int((df["located"] & ~df["inside"]).sum()) if df.height else 0,
    }
    pts = df.filter(pl.col("located") & pl.col("inside")).drop("located", "inside")
    return pts, counts


@dataclass
class Hotspots:
    """Getis-Ord Gi* hot and cold spots of one metric on H3 cells. Build with
    :meth:`from_store` or :meth:`from_frame`; the results are attributes.

    Attributes
    ----------
    table : polars.DataFrame
        One row per cell of the study area: ``h3_cell, latitude, longitude`` (the centre),
        ``n`` (calls; for late_rate, calls with the interval), ``n_late, late_rate``
        (late_rate only), ``z`` (Gi* z-score), ``p`` (two-sided), ``p_fdr`` (Benjamini-Hochberg;
        equal to ``p`` with ``fdr=False``), ``class`` (hot, cold, not significant, too few).
        Untested cells (``too few``) have null z / p. Sorted hot first, by z.
    metric, interval, target_s, resolution, alpha, fdr, permutations, seed, min_n, k :
        The request.
    study_area : str
        How the cells were chosen.
    counts : dict
        ``n_incidents`` (in the window), ``n_unlocated``, ``n_outside`` (the study layer),
        ``n_cells``, ``n_tested``, ``n_hot``, ``n_cold``, ``n_too_few``.
    notes : list of str
    """

    table: pl.DataFrame
    metric: str
    resolution: int
    alpha: float
    fdr: bool
    permutations: int
    seed: int | None
    min_n: int
    k: int = 1
    interval: str | None = None
    target_s: float | None = None
    study_area: str = "convex hull of the incidents"
    start: dt.date | None = None
    end: dt.date | None = None
    call_category: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------------ building
    # Long: one validation block and the two metrics' cell tables, kept together
    @classmethod
    def from_frame(
        cls,
        frame: Any,
        metric: str = "volume",
        target_s: float | None = None,
        resolution: int = 8,
        alpha: float = 0.05,
        fdr: bool = True,
        permutations: int = 999,
        seed: int | None = 0,
        min_n: int = 5,
        k: int = 1,
        area=None,
        study_area: str | None = None,
        value_col: str = "value_s",
    ) -> Hotspots:
        """Gi* of the points in ``frame`` (``latitude``, ``longitude``; for late_rate also
        ``value_col``, the interval in seconds, late when > ``target_s``).

        ``area`` (a shapely polygon, lon/lat) bounds the volume study area; default the convex
        hull of the points.

        Raises
        ------
        AnalysisError
            An invalid option, a missing column, or late_rate without ``target_s``.
        """
        df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
        problems: list[str] = []
        check_options(problems, metric, resolution, alpha, permutations, min_n, k)
        need = ["latitude", "longitude"] + ([value_col] if metric == "late_rate" else [])
        missing = [c for c in need if c not in df.columns]
        if missing:
            problems.append(f"the frame lacks column(s) {', '.join(missing)}")
        if metric == "late_rate" and target_s is None:
            problems.append("`target_s` is required for metric late_rate")
        if problems:
            raise AnalysisError(problems, "cannot compute hotspots")
        from ..spatial.h3cells import _h3_cells

        df = df.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
        lat, lon = df["latitude"].to_numpy(), df["longitude"].to_numpy()
        df = df.with_columns(_h3_cells(lat, lon, resolution).alias("h3_cell"))
        if metric == "volume":
            cells = gistar.study_cells(lat, lon, resolution, area)
            counts = df.group_by("h3_cell").agg(pl.len().alias("n"))
            cell_df = (
                pl.DataFrame({"h3_cell": cells}, schema={"h3_cell": pl.String})
                .join(counts, on="h3_cell", how="left")
                .with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
            )
            y = cell_df["n"].to_numpy().astype(float)
            tested = np.ones(cell_df.height, dtype=bool)
        else:
            v = pl.col(value_col).cast(pl.Float64)
            cell_df = (
                df.filter(v.is_not_null() & v.is_not_nan())
                .group_by("h3_cell")
                .agg(pl.len().alias("n"), (v > float(target_s)).sum().alias("n_late"))  # type: ignore[arg-type]
                .with_columns(
                    pl.col("n").cast(pl.Int64),
                    pl.col("n_late").cast(pl.Int64),
                    (pl.col("n_late") / pl.col("n")).alias("late_rate"),
                )
                .sort("h3_cell")
            )
            tested = (cell_df["n"] >= min_n).to_numpy()
            y = cell_df["late_rate"].to_numpy()[tested]
        cells_t = cell_df["h3_cell"].to_numpy()[tested].tolist()
        g = gistar.gi_star(y, cells_t, k, permutations, seed)
        p_fdr = gistar.fdr_bh(g.p) if fdr else g.p
        table = _cell_table(cell_df, tested, g, p_fdr, alpha)
        label = study_area or (
            "cells with at least min_n measured calls"
            if metric == "late_rate"
            else "convex hull of the incidents"
            if area is None
            else "the given area"
        )
        out = cls(
            table=table,
            metric=metric,
            resolution=resolution,
            alpha=float(alpha),
            fdr=fdr,
            permutations=permutations,
            seed=seed,
            min_n=min_n,
            k=k,
            target_s=float(target_s) if target_s is not None else None,
            study_area=label,
        )
        out.counts = out._class_counts(df.height)
        return out

    # Long: the parameter list and its documentation; the work is in the helpers
    @classmethod
    def from_store(
        cls,
        con: Any,
        metric: str = "volume",
        interval: str = "travel",
        target_s: float | None = None,
        profile: str | None = "nfpa1710",
        resolution: int = 8,
        alpha: float = 0.05,
        fdr: bool = True,
        permutations: int = 999,
        seed: int | None = 0,
        min_n: int = 5,
        k: int = 1,
        study_area: str | None = None,
        start: Any = None,
        end: Any = None,
        call_category: str | None = None,
        agency: str | None = None,
    ) -> Hotspots:
        """Gi* hot and cold spots of the store's incidents.

        Parameters
        ----------
        con : DuckDB connection with the catalog views, or a Store
        metric : ``volume`` (calls per cell) or ``late_rate`` (share of ``interval`` over target)
        interval : incident interval for late_rate (alarm_answering, call_processing, turnout,
            travel, total_response)
        target_s : the late threshold; default the profile's target for ``interval``
        profile : standards profile supplying the default target
        resolution : H3 resolution (8: cells of about 0.74 km2)
        alpha : significance level, applied to the FDR-corrected p-values (``fdr``)
        permutations, seed : permutation inference (0 permutations: normal approximation)
        min_n : late_rate: cells with fewer measured calls are ``too few`` (not tested)
        k : neighbour rings of the weights
        study_area : a zone layer whose union bounds the study area (default: the hull)
        start, end : local dates, both inclusive (default: all)
        call_category : only these calls
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).

        Raises
        ------
        AnalysisError
            Every invalid option at once, each with its fix.
        """
        con = connection(con)
        problems: list[str] = []
        check_options(problems, metric, resolution, alpha, permutations, min_n, k)
        check_agency(agency, problems, con)
        a, b = check_window(start, end, problems)
        check_layer(con, study_area, "study_area", problems)
        tgt = None
        if metric == "late_rate":
            if interval not in INCIDENT_INTERVALS:
                problems.append(
                    f"`interval` {interval!r} must be one of {', '.join(INCIDENT_INTERVALS)}"
                )
            else:
                tgt = resolve_target(interval, target_s, profile, call_category, problems)
                if tgt is None and not problems:
                    problems.append(f"no target for {interval}: pass `target_s`")
        if problems:
            raise AnalysisError(problems, "cannot compute hotspots")
        con = connection(con, agency)  # every relation below: the agency's rows only
        pts, counts = load_points(
            con, interval if metric == "late_rate" else None, a, b, call_category, study_area
        )
        area = layer_union(con, study_area) if study_area else None
        out = cls.from_frame(
            pts,
            metric=metric,
            target_s=tgt,
            resolution=resolution,
            alpha=alpha,
            fdr=fdr,
            permutations=permutations,
            seed=seed,
            min_n=min_n,
            k=k,
            area=area,
            study_area=(
                f"cells of zone layer {study_area!r} (centre inside its union) and its incidents"
                if study_area and metric == "volume"
                else None
            ),
        )
        out.interval = interval if metric == "late_rate" else None
        out.start, out.end, out.call_category = a, b, call_category
        out.counts = {**counts, **out._class_counts(pts.height)}
        out.notes = _notes(out, counts)
        return out

    # ------------------------------------------------------------------------------ outputs
    def _class_counts(self, n_points: int) -> dict[str, int]:
        cls_ = self.table["class"]
        return {
            "n_points": n_points,
            "n_cells": self.table.height,
            "n_tested": int((cls_ != "too few").sum()),
            "n_hot": int((cls_ == "hot").sum()),
            "n_cold": int((cls_ == "cold").sum()),
            "n_too_few": int((cls_ == "too few").sum()),
        }

    @property
    def hot_cells(self) -> list[str]:
        """The cells classed hot."""
        return self.table.filter(pl.col("class") == "hot")["h3_cell"].to_list()

    @property
    def metadata(self) -> dict[str, Any]:
        """What was tested and how: metric, weights, inference, FDR, study area, counts."""
        return {
            "analysis": "hotspots",
            "statistic": "Getis-Ord Gi* (esda.G_Local, star=True, binary weights)",
            "metric": self.metric,
            "interval": self.interval,
            "target_s": self.target_s,
            "resolution": self.resolution,
            "weights": f"H3 contiguity: cells within {self.k} grid ring(s) (h3.grid_disk)",
            "study_area": self.study_area,
            "alpha": self.alpha,
            "fdr": "Benjamini-Hochberg" if self.fdr else None,
            "p_value": (
                "two-sided permutation pseudo p-value (2 x esda p_sim, capped at 1)"
                if self.permutations
                else "two-sided normal approximation (2 x esda p_norm)"
            ),
            "permutations": self.permutations,
            "seed": self.seed,
            "min_n": self.min_n if self.metric == "late_rate" else None,
            "start": str(self.start) if self.start else None,
            "end": str(self.end) if self.end else None,
            "call_category": self.call_category,
            "counts": dict(self.counts),
            "notes": list(self.notes),
        }

    def to_geodataframe(self):
        """The table with each cell's hexagon as geometry (GeoPandas, EPSG:4326)."""
        return cells_geodataframe(self.table)

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"Hotspots(metric={self.metric!r}, resolution={self.resolution}, "
            f"cells={c.get('n_cells')}, hot={c.get('n_hot')}, cold={c.get('n_cold')})"
        )


def cells_geodataframe(table: pl.DataFrame):
    """A frame with an ``h3_cell`` column as a GeoDataFrame of cell hexagons (EPSG:4326)."""
    import geopandas as gpd
    import h3
    import shapely

    polys = [
        shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
        for c in table["h3_cell"].to_list()
    ]
    return gpd.GeoDataFrame(table.to_pandas(), geometry=polys, crs="EPSG:4326")


def _cell_table(cell_df: pl.DataFrame, tested, g, p_fdr, alpha: float) -> pl.DataFrame:
    n = cell_df.height
    z = np.full(n, np.nan)
    p = np.full(n, np.nan)
    pf = np.full(n, np.nan)
    cls_ = np.full(n, "too few", dtype=object)
    z[tested], p[tested], pf[tested] = g.z, g.p, p_fdr
    cls_[tested] = gistar.classify(g.z, p_fdr, alpha)
    lat, lon = gistar.cell_centres(cell_df["h3_cell"].to_list())
    extra = [c for c in ("n_late", "late_rate") if c in cell_df.columns]
    order = {c: i for i, c in enumerate(gistar.CLASSES)}
    out = cell_df.select("h3_cell").with_columns(
        pl.Series("latitude", lat, dtype=pl.Float64),
        pl.Series("longitude", lon, dtype=pl.Float64),
        cell_df["n"],
        *[cell_df[c] for c in extra],
        pl.Series("z", z).fill_nan(None),
        pl.Series("p", p).fill_nan(None),
        pl.Series("p_fdr", pf).fill_nan(None),
        pl.Series("class", cls_.tolist(), dtype=pl.String),
    )
    return (
        out.with_columns(pl.col("class").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
        .sort(["_o", "z", "h3_cell"], descending=[False, True, False], nulls_last=True)
        .drop("_o")
    )


def _notes(hs: Hotspots, counts: dict[str, int]) -> list[str]:
    notes = []
    if counts.get("n_unlocated"):
        notes.append(f"{counts['n_unlocated']} incidents without coordinates are not counted")
    if counts.get("n_outside"):
        notes.append(
            f"{counts['n_outside']} incidents outside every zone of the study-area layer are "
            "not counted"
        )
    if hs.metric == "late_rate":
        notes.append(
            f"late = {hs.interval} over {hs.target_s:g} s; cells with fewer than {hs.min_n} "
            "measured calls are 'too few' (not tested)"
        )
    m = hs.counts.get("n_tested", 0)
    if hs.fdr and hs.permutations and m:
        floor = 2 / (hs.permutations + 1)
        if floor * m > hs.alpha * 10:
            notes.append(
                f"with {hs.permutations} permutations the smallest p is {floor:.4f}; over {m} "
                "cells the FDR correction can hide real clusters: raise `permutations`"
            )
    return notes
