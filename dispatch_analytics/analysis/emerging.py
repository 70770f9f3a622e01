"""Emerging hot spots: Gi* of call volume per period and a Mann-Kendall trend per cell.

After ESRI's *Emerging Hot Spot Analysis*, simplified. Every cell of the study area (see
:mod:`.hotspots`) gets, for each local period (day, week or month; empty periods count as
zeros), a Gi* z-score and a hot / cold / not-significant class (the FDR correction, when on,
is applied within each period). The trend is the Mann-Kendall test of the cell's z-scores
against time (``scipy.stats.kendalltau`` of z on the period index: Kendall's S is the
Mann-Kendall statistic; the p-value is scipy's, with the tie correction), significant at
``alpha``. With T periods and ``ceil(0.9 T)`` the "90 percent" threshold, each cell gets one
pattern:

==============  =========================================================================
pattern         rule (checked in this order)
==============  =========================================================================
new             hot in the final period and in no earlier period
intensifying    hot in at least 90% of the periods including the final one; z trend up
persistent      hot in at least 90% of the periods including the final one; no trend
diminishing     hot in at least 90% of the periods including the final one; z trend down
sporadic        hot in the final period, hot in fewer than 90% of the periods, never cold
historical      not hot in the final period, hot in at least 90% of the earlier periods
no pattern      anything else (never hot; or hot now and then, or cold in between)
==============  =========================================================================

ESRI's *consecutive* and *oscillating* patterns, and all cold-spot patterns, are not
distinguished (they fall under sporadic / no pattern). Fewer than 4 periods make every
trend non-significant (too few points for Mann-Kendall).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import AnalysisError
from . import gistar
from ._common import check_agency, check_layer, check_window, connection
from .hotspots import cells_geodataframe, check_options, layer_union, load_points

__all__ = ["EmergingHotspots", "PATTERNS", "PERIODS", "mann_kendall", "pattern_of"]

PATTERNS = (
    "new",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "historical",
    "no pattern",
)
PERIODS = ("day", "week", "month")


def mann_kendall(z: np.ndarray) -> tuple[float, float]:
    """(tau, p): Kendall's tau-b of ``z`` against its index and its two-sided p-value
    (the Mann-Kendall trend test); (0, 1) for fewer than 4 values or a constant series."""
    from scipy.stats import kendalltau

    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if len(z) < 4 or np.all(z == z[0]):
        return 0.0, 1.0
    r = kendalltau(np.arange(len(z)), z)
    tau, p = float(r.statistic), float(r.pvalue)
    if not math.isfinite(tau) or not math.isfinite(p):
        return 0.0, 1.0
    return tau, p


def pattern_of(classes: list[str], tau: float, trend_p: float, alpha: float) -> str:
    """The pattern of one cell from its per-period classes (oldest first) and z trend."""
    t = len(classes)
    if t == 0:
        return "no pattern"
    hot = [c == "hot" for c in classes]
    need = math.ceil(0.9 * t)
    final = hot[-1]
    if final and not any(hot[:-1]):
        return "new"
    if final and sum(hot) >= need:
        if trend_p <= alpha and tau > 0:
            return "intensifying"
        if trend_p <= alpha and tau < 0:
            return "diminishing"
        return "persistent"
    if final and "cold" not in classes:
        return "sporadic"
    if not final and t > 1 and sum(hot[:-1]) >= math.ceil(0.9 * (t - 1)) and any(hot):
        return "historical"
    return "no pattern"


def _period_start(d: pl.Expr, by: str) -> pl.Expr:
    return d.dt.truncate({"day": "1d", "week": "1w", "month": "1mo"}[by])


def _all_periods(first: dt.date, last: dt.date, by: str) -> list[dt.date]:
    s = pl.date_range(first, last, {"day": "1d", "week": "1w", "month": "1mo"}[by], eager=True)
    return s.to_list()


@dataclass
class EmergingHotspots:
    """Emerging hot spots of call volume. Build with :meth:`from_store` or :meth:`from_frame`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per cell: ``h3_cell, latitude, longitude, n`` (calls over all periods),
        ``n_periods, n_hot_periods, n_cold_periods, hot_final, tau, trend_p, trend``
        (``up`` / ``down`` / ``none``), ``pattern``.
    periods : polars.DataFrame
        One row per cell and period: ``h3_cell, period_start, n, z, p, p_fdr, class``.
    by, resolution, alpha, fdr, permutations, seed, k, study_area, counts, notes :
        The request and what was counted.
    """

    table: pl.DataFrame
    periods: pl.DataFrame
    by: str
    resolution: int
    alpha: float
    fdr: bool
    permutations: int
    seed: int | None
    k: int = 1
    study_area: str = "convex hull of the incidents"
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # Long: validation, the per-period Gi* loop and the per-cell trend, kept together
    @classmethod
    def from_frame(
        cls,
        frame: Any,
        by: str = "month",
        resolution: int = 8,
        alpha: float = 0.05,
        fdr: bool = True,
        permutations: int = 999,
        seed: int | None = 0,
        k: int = 1,
        area=None,
        study_area: str | None = None,
        date_col: str = "local_date",
    ) -> EmergingHotspots:
        """Emerging hot spots of the points in ``frame`` (``latitude, longitude`` and the
        local date ``date_col``). Each period's permutations use ``seed + period index``."""
        df = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
        problems: list[str] = []
        check_options(problems, "volume", resolution, alpha, permutations, 1, k)
        if by not in PERIODS:
            problems.append(f"`by` {by!r} must be one of {', '.join(PERIODS)}")
        missing = [c for c in ("latitude", "longitude", date_col) if c not in df.columns]
        if missing:
            problems.append(f"the frame lacks column(s) {', '.join(missing)}")
        if problems:
            raise AnalysisError(problems, "cannot compute emerging hotspots")
        from ..spatial.h3cells import _h3_cells

        df = df.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
        lat, lon = df["latitude"].to_numpy(), df["longitude"].to_numpy()
        cells = gistar.study_cells(lat, lon, resolution, area)
        df = df.with_columns(
            _h3_cells(lat, lon, resolution).alias("h3_cell"),
            _period_start(pl.col(date_col).cast(pl.Date), by).alias("period_start"),
        )
        periods = (
            _all_periods(df["period_start"].min(), df["period_start"].max(), by)  # type: ignore[arg-type]
            if df.height
            else []
        )
        grid = pl.DataFrame({"h3_cell": cells}, schema={"h3_cell": pl.String}).join(
            pl.DataFrame({"period_start": periods}, schema={"period_start": pl.Date}),
            how="cross",
        )
        counts = df.group_by("h3_cell", "period_start").agg(pl.len().alias("n"))
        long = (
            grid.join(counts, on=["h3_cell", "period_start"], how="left")
            .with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
            .sort("period_start", "h3_cell")
        )
        w = gistar.h3_weights(cells, k) if cells else None
        parts = []
        for i, (_p, part) in enumerate(long.group_by("period_start", maintain_order=True)):
            y = part["n"].to_numpy().astype(float)
            g = gistar.gi_star(y, cells, k, permutations, None if seed is None else seed + i, w)
            pf = gistar.fdr_bh(g.p) if fdr else g.p
            parts.append(
                part.with_columns(
                    pl.Series("z", g.z),
                    pl.Series("p", g.p),
                    pl.Series("p_fdr", pf),
                    pl.Series("class", gistar.classify(g.z, pf, alpha).tolist(), dtype=pl.String),
                )
            )
        per = (
            pl.concat(parts)
            if parts
            else long.with_columns(
                pl.lit(None, pl.Float64).alias("z"),
                pl.lit(None, pl.Float64).alias("p"),
                pl.lit(None, pl.Float64).alias("p_fdr"),
                pl.lit(None, pl.String).alias("class"),
            )
        ).sort("h3_cell", "period_start")
        table = _cell_patterns(per, alpha)
        out = cls(
            table=table,
            periods=per,
            by=by,
            resolution=resolution,
            alpha=float(alpha),
            fdr=fdr,
            permutations=permutations,
            seed=seed,
            k=k,
            study_area=study_area
            or ("convex hull of the incidents" if area is None else "the given area"),
        )
        out.counts = {
            "n_points": df.height,
            "n_cells": table.height,
            "n_periods": len(periods),
            **{f"n_{p.replace(' ', '_')}": int((table["pattern"] == p).sum()) for p in PATTERNS},
        }
        if len(periods) < 4:
            out.notes.append(
                f"only {len(periods)} {by} period(s): too few for a Mann-Kendall trend; "
                "intensifying / diminishing cannot occur"
            )
        return out

    @classmethod
    def from_store(
        cls,
        con: Any,
        by: str = "month",
        resolution: int = 8,
        alpha: float = 0.05,
        fdr: bool = True,
        permutations: int = 999,
        seed: int | None = 0,
        k: int = 1,
        study_area: str | None = None,
        start: Any = None,
        end: Any = None,
        call_category: str | None = None,
        agency: str | None = None,
    ) -> EmergingHotspots:
        """Emerging hot spots of the store's call volume by local ``by`` period (day, week,
        month); the options are those of :meth:`Hotspots.from_store`.

        Raises
        ------
        AnalysisError
            Every invalid option at once, each with its fix.
        """
        con = connection(con)
        problems: list[str] = []
        check_options(problems, "volume", resolution, alpha, permutations, 1, k)
        if by not in PERIODS:
            problems.append(f"`by` {by!r} must be one of {', '.join(PERIODS)}")
        check_agency(agency, problems, con)
        a, b = check_window(start, end, problems)
        check_layer(con, study_area, "study_area", problems)
        if problems:
            raise AnalysisError(problems, "cannot compute emerging hotspots")
        con = connection(con, agency)  # every relation below: the agency's rows only
        pts, counts = load_points(con, None, a, b, call_category, study_area)
        out = cls.from_frame(
            pts,
            by=by,
            resolution=resolution,
            alpha=alpha,
            fdr=fdr,
            permutations=permutations,
            seed=seed,
            k=k,
            area=layer_union(con, study_area) if study_area else None,
            study_area=(
                f"cells of zone layer {study_area!r} and its incidents" if study_area else None
            ),
        )
        out.counts = {**counts, **out.counts}
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        """The request, the pattern rules' parameters and the counts."""
        return {
            "analysis": "emerging_hotspots",
            "statistic": "Getis-Ord Gi* per period (esda.G_Local, star=True, binary weights); "
            "Mann-Kendall trend of each cell's z (scipy.stats.kendalltau on the period index)",
            "by": self.by,
            "resolution": self.resolution,
            "weights": f"H3 contiguity: cells within {self.k} grid ring(s)",
            "study_area": self.study_area,
            "alpha": self.alpha,
            "fdr": "Benjamini-Hochberg within each period" if self.fdr else None,
            "permutations": self.permutations,
            "seed": self.seed,
            "patterns": list(PATTERNS),
            "counts": dict(self.counts),
            "notes": list(self.notes),
        }

    def to_geodataframe(self):
        """The per-cell table with each cell's hexagon (GeoPandas, EPSG:4326)."""
        return cells_geodataframe(self.table)


def _cell_patterns(per: pl.DataFrame, alpha: float) -> pl.DataFrame:
    rows = []
    for (cell,), part in per.group_by("h3_cell", maintain_order=True):
        classes = part["class"].to_list()
        tau, p = mann_kendall(part["z"].to_numpy())
        trend = "up" if p <= alpha and tau > 0 else "down" if p <= alpha and tau < 0 else "none"
        rows.append(
            {
                "h3_cell": cell,
                "n": int(part["n"].sum()),
                "n_periods": len(classes),
                "n_hot_periods": classes.count("hot"),
                "n_cold_periods": classes.count("cold"),
                "hot_final": bool(classes and classes[-1] == "hot"),
                "tau": tau,
                "trend_p": p,
                "trend": trend,
                "pattern": pattern_of(classes, tau, p, alpha),
            }
        )
    schema = {
        "h3_cell": pl.String,
        "n": pl.Int64,
        "n_periods": pl.Int64,
        "n_hot_periods": pl.Int64,
        "n_cold_periods": pl.Int64,
        "hot_final": pl.Boolean,
        "tau": pl.Float64,
        "trend_p": pl.Float64,
        "trend": pl.String,
        "pattern": pl.String,
    }
    t = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    lat, lon = gistar.cell_centres(t["h3_cell"].to_list())
    order = {p: i for i, p in enumerate(PATTERNS)}
    return (
        t.with_columns(
            pl.Series("latitude", lat, dtype=pl.Float64),
            pl.Series("longitude", lon, dtype=pl.Float64),
        )
        .select("h3_cell", "latitude", "longitude", *[c for c in schema if c != "h3_cell"])
        .with_columns(pl.col("pattern").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
        .sort(["_o", "n"], descending=[False, True])
        .drop("_o")
    )
