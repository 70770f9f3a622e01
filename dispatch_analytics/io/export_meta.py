"""What an export says about itself: column definitions, units, types, shapefile short names
and the metadata document written with every file (see :mod:`.export`).

Layer 1.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dispatch_analytics.fmt as fmt  # `from .. import fmt` would import the facade

from .._version import __version__

__all__ = [
    "SHORT_NAME_LEN",
    "ColumnInfo",
    "ExportMeta",
    "ExportResult",
    "column_type",
    "column_unit",
    "crs_label",
    "metadata_document",
    "short_names",
]

#: dBASE (shapefile) field names are at most this long.
SHORT_NAME_LEN = 10


# ================================================================================ metadata
def column_unit(name: str) -> str:
    """The unit of a column, from its name: ``*_s`` seconds, shares a fraction 0-1, ``n`` and
    ``n_*`` counts, ``*_km2`` square kilometres, ``*_m`` metres; else empty.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    if fmt.is_duration_column(name):
        return "seconds"
    if fmt.is_share_column(name):
        return "fraction 0-1"
    if name == "n" or name.startswith("n_"):
        return "count"
    if name.endswith("_km2"):
        return "km²"
    if name.endswith("_m"):
        return "metres"
    return ""


def column_type(dtype: Any) -> str:
    """The type of a pandas column as the docs name it: integer, real, boolean, datetime,
    date, text or geometry.

    Parameters
    ----------
    dtype : pandas dtype

    Returns
    -------
    str
    """
    import pandas as pd

    s = str(dtype)
    if s == "geometry":
        return "geometry"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "real"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


@dataclass
class ColumnInfo:
    """What one column holds.

    Attributes
    ----------
    name : str
        The column name (the full name; the shapefile short name is derived).
    definition : str
        What it measures: which timestamps, the percentile method, the unit.
    label : str
        Human label (default ``fmt.label(name)``).
    unit : str
        Default :func:`column_unit`.
    """

    name: str
    definition: str
    label: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or fmt.label(self.name)
        self.unit = self.unit or column_unit(self.name)


def _is_geo(frame) -> bool:
    """True for a GeoDataFrame with its geometry column."""
    import geopandas as gpd

    return isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class ExportMeta:
    """Metadata written with an export.

    Attributes
    ----------
    title : str
        One line: what the layer is (``"Total response by zone, layer neighborhoods"``).
    kind : str
        The export kind (``zones``, ``coverage``...); also the GeoPackage layer / sheet name.
    columns : list of ColumnInfo
        One per column of the frame (the geometry excepted): :func:`write_export` refuses a
        column without a definition.
    date_from, date_to : str, optional
        The period covered (local dates, inclusive).
    profile : str, optional
        The standards profile the targets come from.
    agency : str, optional
        The agency, when known (None: every agency in the store).
    agencies : dict of str to int
        Incidents of each agency the export covers (in its period), when known: the README
        names them, with the counts when there are several.
    generated_at : str
        UTC ISO timestamp (default: now).
    tool_version : str
        ``dispatch-analytics`` version.
    details : dict
        Anything else an output must state (layer, metric, start / end timestamps, percentile
        method, target ...): JSON-serialisable values.
    notes : list of str
        Assumptions and exclusions.
    """

    title: str
    kind: str
    columns: list[ColumnInfo]
    date_from: str | None = None
    date_to: str | None = None
    profile: str | None = None
    agency: str | None = None
    agencies: dict[str, int] = field(default_factory=dict)
    generated_at: str = field(default_factory=_now)
    tool_version: str = __version__
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnInfo | None:
        """The :class:`ColumnInfo` of ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def agency_text(self) -> str:
        """Which agency or agencies the export covers, in words: ``"SFFD"``, ``"SFFD and
        Sample City FD, together (214 and 2,970 incidents)"`` or ``"all agencies in the
        store"``."""
        names = list(self.agencies)
        if len(names) > 1:
            counts = " and ".join(fmt.count(self.agencies[a]) for a in names)
            return f"{', '.join(names[:-1])} and {names[-1]}, together ({counts} incidents)"
        if names:
            return names[0]
        if isinstance(self.agency, list | tuple):
            return ", ".join(self.agency) + " (together)"
        return self.agency or "all agencies in the store"


@dataclass
class ExportResult:
    """What :func:`write_export` wrote.

    Attributes
    ----------
    path : Path
        The main file.
    format : str
    files : list of Path
        Every file written (the main file first, then sidecars).
    crs : str or None
        The CRS written (``EPSG:xxxx`` when it has a code).
    rows : int
    short_names : dict
        Column -> short name (used by the shapefile; listed for every format).
    metadata : dict
        The metadata document written (the sidecar's content).
    """

    path: Path
    format: str
    files: list[Path]
    crs: str | None
    rows: int
    short_names: dict[str, str]
    metadata: dict[str, Any]


# ============================================================================= short names
def _clean_name(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    if not s or not s[0].isalpha():
        s = "f_" + s
    return s


def short_names(columns: Sequence[str], max_len: int = SHORT_NAME_LEN) -> dict[str, str]:
    """Shapefile-safe field names: at most ``max_len`` characters of ``[A-Za-z0-9_]``,
    starting with a letter, unique ignoring case; deterministic for a given column order.

    Rule: characters outside ``[A-Za-z0-9_]`` become ``_`` (and ``f_`` is put before a name
    that does not start with a letter); a name that then fits and is not taken keeps itself
    (these are reserved first, in column order); any other is cut to ``max_len`` characters
    (trailing ``_`` dropped) and, if that is taken, cut shorter and given ``_2``, ``_3``...

    Parameters
    ----------
    columns : sequence of str
    max_len : int

    Returns
    -------
    dict
        Column -> short name, in column order.

    Examples
    --------
    >>> short_names(["zone_id", "density_class", "density_classes"])
    {'zone_id': 'zone_id', 'density_class': 'density_cl', 'density_classes': 'density__2'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in columns:
        s = _clean_name(c)
        if len(s) <= max_len and s.lower() not in used:
            out[c] = s
            used.add(s.lower())
    for c in columns:
        if c in out:
            continue
        s = _clean_name(c)
        cand = s[:max_len].rstrip("_") or s[:max_len]
        k = 1
        while cand.lower() in used:
            k += 1
            suffix = f"_{k}"
            cand = s[: max_len - len(suffix)] + suffix
        out[c] = cand
        used.add(cand.lower())
    return {c: out[c] for c in columns}


def crs_label(crs: Any) -> str | None:
    """``EPSG:xxxx`` when the CRS has an EPSG code, else its name (None for no CRS)."""
    if crs is None:
        return None
    import pyproj

    c = pyproj.CRS.from_user_input(crs)
    code = c.to_epsg()
    return f"EPSG:{code}" if code else c.name


# ============================================================================ the document
def metadata_document(
    frame, meta: ExportMeta | None, format: str, path: Path, names: dict[str, str]
) -> dict[str, Any]:
    """The metadata written with an export (the sidecar's JSON), as a dict."""
    geo = _is_geo(frame)
    gcol = frame._geometry_column_name if geo else None
    meta = meta or ExportMeta(title=path.stem, kind="data", columns=[])
    columns = []
    for c in frame.columns:
        if c == gcol:
            continue
        info = meta.column(c) or ColumnInfo(c, "")
        columns.append(
            {
                "name": c,
                "short_name": names.get(c, c),
                "label": info.label,
                "type": column_type(frame[c].dtype),
                "unit": info.unit,
                "definition": info.definition,
            }
        )
    return {
        "title": meta.title,
        "kind": meta.kind,
        "format": format,
        "file": path.name,
        "rows": int(len(frame)),
        "geometry": (
            {
                "column": "WKT" if format == "csv" else gcol,
                "types": sorted({str(t) for t in frame.geom_type.dropna().unique()}),
                "crs": crs_label(frame.crs),
                "crs_name": frame.crs.name if frame.crs is not None else None,
                "crs_wkt": frame.crs.to_wkt() if frame.crs is not None else None,
                "bounds": [float(v) for v in frame.total_bounds] if len(frame) else None,
            }
            if geo
            else None
        ),
        "date_from": meta.date_from,
        "date_to": meta.date_to,
        "profile": meta.profile,
        "agency": meta.agency_text,
        "agencies": [{"agency": a, "incidents": n} for a, n in meta.agencies.items()],
        "generated_at": meta.generated_at,
        "tool": "dispatch-analytics",
        "tool_version": meta.tool_version,
        "details": meta.details,
        "notes": list(meta.notes),
        "columns": columns,
    }
