"""Hotspot results as an export layer: cell hexagons (EPSG:4326) and their metadata, for
``dispatch export hotspots`` / ``dispatch map hotspots`` (``io.export`` writes them)."""

from __future__ import annotations

from typing import Any

import polars as pl

from ..io.export import ColumnInfo, ExportMeta
from .emerging import EmergingHotspots
from .hotspots import Hotspots, cells_geodataframe

__all__ = ["hotspots_layer"]

_DEFS = {
    "h3_cell": "H3 cell id (hex text) at the resolution in the metadata",
    "latitude": "latitude of the cell's centre (WGS84 degrees)",
    "longitude": "longitude of the cell's centre (WGS84 degrees)",
    "n": "calls in the cell (late_rate: calls with the interval measured)",
    "n_late": "calls whose interval exceeded the target",
    "late_rate": "share of the cell's measured calls over the target (n_late / n)",
    "z": "Getis-Ord Gi* z-score (esda.G_Local, star=True, binary H3-contiguity weights)",
    "p": "two-sided permutation p-value of Gi* (2 x esda p_sim, capped at 1)",
    "p_fdr": "Benjamini-Hochberg FDR-adjusted p-value over the tested cells (= p without FDR)",
    "class": "hot / cold (p_fdr <= alpha, z > 0 / < 0), not significant, or too few (not "
    "tested); emerging layers: the class in the final period",
    "n_periods": "periods of the emerging analysis",
    "n_hot_periods": "periods in which the cell was hot",
    "n_cold_periods": "periods in which the cell was cold",
    "hot_final": "hot in the final period",
    "tau": "Mann-Kendall (Kendall tau-b) trend of the cell's Gi* z over the periods",
    "trend_p": "two-sided p-value of the trend",
    "trend": "up / down (trend_p <= alpha) or none",
    "pattern": "emerging pattern: new, intensifying, persistent, diminishing, sporadic, "
    "historical or no pattern (docs/operations.md)",
}


def hotspots_layer(
    res: Hotspots | EmergingHotspots, agency: str | None = None
) -> tuple[Any, ExportMeta]:
    """(GeoDataFrame of cell hexagons with the result columns, ExportMeta) of a result."""
    table = res.table
    if isinstance(res, EmergingHotspots):
        final = res.periods.sort("period_start").group_by("h3_cell").agg(pl.col("class").last())
        table = table.join(final, on="h3_cell", how="left")
        title = f"Emerging hot spots of call volume by {res.by}"
    else:
        what = (
            "call volume"
            if res.metric == "volume"
            else f"late {res.interval} (> {res.target_s:g} s)"
        )
        title = f"Gi* hot and cold spots of {what}"
    md = res.metadata
    meta = ExportMeta(
        title=title,
        kind="hotspots",
        columns=[ColumnInfo(c, _DEFS[c]) for c in table.columns],
        date_from=md.get("start"),
        date_to=md.get("end"),
        agency=agency,
        details={k: v for k, v in md.items() if k not in ("start", "end", "notes")},
        notes=list(md.get("notes", [])),
    )
    return cells_geodataframe(table), meta
