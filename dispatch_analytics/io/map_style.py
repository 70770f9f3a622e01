"""The look of maps, shared by the PNG / PDF and HTML renderers: colours, legend text,
scale-bar lengths, and the :class:`MapSpec` that says what a map shows.

Layer 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dispatch_analytics.fmt as fmt  # `from .. import fmt` would import the facade

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "CATEGORY_COLORS",
    "CMAPS",
    "NO_DATA_COLOR",
    "MapSpec",
    "PointLayer",
    "colour_values",
    "legend_label",
    "length_text",
    "nice_length",
    "tick_text",
    "ticks",
    "value_kind",
]

#: Colours of known categories (the zone ``status`` values); others take tab10 colours.
CATEGORY_COLORS: dict[str, str] = {
    "met": "#1a9850",
    "not_met": "#d73027",
    "no_target": "#9e9e9e",
    "no_data": "#e0e0e0",
    # hotspot classes and emerging patterns (dispatch map hotspots)
    "hot": "#c0392b",
    "cold": "#2e86c1",
    "not significant": "#d5d8dc",
    "too few": "#f4f6f6",
    "new": "#e74c3c",
    "intensifying": "#922b21",
    "persistent": "#cb4335",
    "diminishing": "#f5b041",
    "sporadic": "#f1948a",
    "historical": "#a569bd",
    "no pattern": "#e5e8e8",
    # gap statuses (dispatch map gaps)
    "meeting": "#1a9850",
    "at risk": "#fdae61",
    "failing": "#d73027",
    "too few calls": "#bdbdbd",
    # modelled coverage cells (dispatch map coverage --by covered)
    "covered": "#1a9850",
    "not covered": "#d73027",
}
NO_DATA_COLOR = "#e6e6e6"
#: Colour maps by value kind: high durations and counts dark, high shares green.
CMAPS = {"duration": "YlOrRd", "share": "RdYlGn", "count": "Blues", "number": "viridis"}


@dataclass
class PointLayer:
    """Points drawn over the polygons (stations): ``frame`` in any CRS, a label column."""

    frame: gpd.GeoDataFrame
    label: str | None = None
    name: str = "stations"


@dataclass
class MapSpec:
    """What a map says besides its colours.

    Attributes
    ----------
    title : str
    subtitle : str, optional
        A second line (metric, profile, target).
    date_range : str, optional
        ``2017-01-01 to 2017-01-07``: shown under the title.
    legend : str, optional
        The legend's label (default ``fmt.label(column)``).
    id_column : str, optional
        Column naming each polygon in the HTML hover (default: ``name`` or the first column).
    hover_columns : sequence of str, optional
        Columns shown in the HTML hover (default: every attribute).
    footer : str, optional
        Small print (default: tool version and "no base map").
    """

    title: str
    subtitle: str | None = None
    date_range: str | None = None
    legend: str | None = None
    id_column: str | None = None
    hover_columns: Sequence[str] | None = None
    footer: str | None = None
    points: list[PointLayer] = field(default_factory=list)


def value_kind(frame, column: str) -> str:
    """How a column's values read: ``duration`` (``*_s``), ``share``, ``count`` (``n``,
    ``n_*``), ``number`` or ``category`` (text, booleans)."""
    import pandas as pd

    dtype = frame[column].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return "category"
    if fmt.is_duration_column(column):
        return "duration"
    if fmt.is_share_column(column):
        return "share"
    if column == "n" or column.startswith("n_"):
        return "count"
    return "number"


def tick_text(kind: str, v: float) -> str:
    """A legend tick for a value of this kind: ``12:06``, ``85%``, ``1,204``, ``0.35``."""
    if kind == "duration":
        return fmt.duration(v)
    if kind == "share":
        return fmt.share(v, 0)
    if kind == "count":
        return fmt.count(round(v))
    return fmt.number(v)


def legend_label(column: str, kind: str, legend: str | None) -> str:
    """The legend's title: the label and how values read (``90th pct (m:ss)``)."""
    text = legend or fmt.label(column)
    unit = {"duration": " (m:ss)", "share": " (%)"}.get(kind, "")
    return text if text.endswith(unit) else text + unit


def nice_length(span: float) -> float:
    """A round scale-bar length (1, 2 or 5 times a power of ten) of about a fifth of span."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    target = span / 5
    p = 10 ** math.floor(math.log10(target))
    return max((m * p for m in (1, 2, 5) if m * p <= target), default=p)


def length_text(metres: float) -> str:
    """``500 m``, ``2 km``, ``1.5 km``."""
    if metres >= 1000:
        return f"{metres / 1000:g} km"
    return f"{metres:g} m"


def colour_values(frame, column: str, kind: str) -> tuple[list[str], dict[str, str], Any]:
    """Each row's colour (hex), the legend entries (label -> colour) for categories and the
    colour map and norm for numbers (None, None for categories)."""
    import matplotlib as mpl
    import matplotlib.colors as mcolors
    import pandas as pd

    values = frame[column]
    if kind == "category":
        seen = [str(c) for c in pd.unique(values.dropna())]
        cats = [c for c in CATEGORY_COLORS if c in seen] + [
            c for c in seen if c not in CATEGORY_COLORS
        ]
        palette = mpl.colormaps["tab10"]
        colours = {
            c: CATEGORY_COLORS.get(c, mcolors.to_hex(palette(i % 10))) for i, c in enumerate(cats)
        }
        rows = [NO_DATA_COLOR if pd.isna(v) else colours[str(v)] for v in values]
        return rows, colours, (None, None)
    cmap = mpl.colormaps[CMAPS[kind]]
    finite = values.astype(float).replace([math.inf, -math.inf], math.nan).dropna()
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if kind == "share":  # always 0-100%: maps of shares compare across layers and periods
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    norm = mcolors.Normalize(lo, hi)
    rows = [
        NO_DATA_COLOR
        if pd.isna(v) or not math.isfinite(float(v))
        else mcolors.to_hex(cmap(norm(float(v))))
        for v in values
    ]
    return rows, {}, (cmap, norm)


#: Tick steps (seconds) for duration colour bars: whole minutes and their usual fractions.
_DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200)


def ticks(kind: str, lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Colour-bar ticks between lo and hi: durations on round seconds / minutes (0:30, 1:00,
    5:00 ...), shares on round percentages, other numbers on 1-2-5 steps."""
    import numpy as np

    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    span = hi - lo
    step: float
    if kind == "duration":
        step = next(
            (s for s in _DURATION_STEPS if span / s <= max_ticks - 1),
            3600 * math.ceil(span / 3600 / (max_ticks - 1)),
        )
    else:
        step = nice_length(span * 5 / (max_ticks - 1))
        while span / step > max_ticks - 1:
            step *= 2
    first = math.ceil(lo / step - 1e-9) * step
    return [round(float(v), 10) for v in np.arange(first, hi + step * 1e-9, step)]
