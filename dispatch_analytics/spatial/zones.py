"""Zone layers, and the assignment of every incident to a zone per layer plus an H3 cell.

A *zone layer* is a set of polygons incidents are counted in: NFPA 1720 demand zones,
first-due station areas, battalions, neighbourhoods... Layers live under the store root::

    spatial/zones/<layer>.parquet          GeoParquet, EPSG:4326: layer, zone_id, name,
                                           density_class, area_km2, geometry
    spatial/zones/_empty.parquet           zero-row placeholder (so globs always match)
    spatial/stations.parquet               see :mod:`dispatch_analytics.stations`
    spatial/incident_zones/<layer>.parquet incident_id, layer, zone_id (null = in no zone)
    spatial/incident_zones/_empty.parquet  zero-row placeholder
    spatial/incident_cells.parquet         incident_id, resolution, h3_cell

Every file is written to a temporary name in its folder and renamed over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one. Writers
serialise on ``spatial/.write.lock`` (separate from the ingest lock).

Point-in-zone rule: zones are *closed* sets (a point on a zone's edge is in the zone). A point
in several zones (on a shared edge, or where zones overlap) goes to the first of them in
zone order, i.e. the order of the features in the source file, which is kept on disk.

The DuckDB views (:func:`spatial_view_sql`) use only DuckDB core; the spatial extension adds
optional ``zones_geo`` / ``incidents_geo`` views (:func:`spatial_geometry_sql`).

Heavy libraries (geopandas, shapely, pyogrio, pyproj, h3) are imported inside the functions
that need them, so importing this module (e.g. from the store) stays cheap.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import polars as pl

from ..errors import IngestError, StoreError, ZoneError
from ..store.spatial_tables import (
    atomic_write,
    cells_path,
    incident_zones_dir,
    init_spatial,
    spatial_lock,
    zones_dir,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "DENSITY_CLASSES",
    "LAYER_NAME_RE",
    "ZoneError",
    "ZoneReport",
    "load_zones",
    "list_layers",
    "read_layer",
    "assign_points",
    "assign_point_index",
    "assign_incidents",
    "outside_incidents",
]

#: NFPA 1720 demand-zone classes accepted in a layer's ``density_field`` (case-insensitive).
DENSITY_CLASSES: tuple[str, ...] = ("urban", "suburban", "rural", "remote")

#: A layer name: snake_case, starting with a letter.
LAYER_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")

#: Two zones overlap when their intersection exceeds this fraction of the smaller one's area.
OVERLAP_MIN_FRACTION = 1e-4

#: Holes in a layer smaller than this (square metres) are digitising noise, not gaps.
GAP_MIN_M2 = 1.0

_MAX_LISTED = 20
# assign_point_index: below this many point-zone tests the per-zone bbox scan is used,
# above it a grid index (see _GridIndex)
_DIRECT_MAX_WORK = 4_000_000
_CHUNK = 1 << 20


@dataclass
class ZoneReport:
    """What :func:`load_zones` stored and found.

    Attributes
    ----------
    layer : str
        The layer name.
    n_zones : int
        Zones stored.
    crs_in : str
        The CRS the source coordinates were read in (before reprojection to EPSG:4326).
    repaired : list of str
        Ids of zones whose invalid geometry was repaired with ``shapely.make_valid``.
    overlaps : list of (str, str, float)
        Pairs of zones ``(a, b, area_km2)`` whose intersection exceeds 0.01 % of the
        smaller zone; ``a`` comes first in zone order (and wins points in the overlap).
    gaps_count, gaps_area_km2 : int, float
        Holes in the union of the layer's zones (interior rings of at least 1 m2), and
        their total area.
    incidents_assigned, incidents_outside, incidents_unlocated : int
        Incidents now in a zone of this layer; with coordinates but in no zone; without
        coordinates. All 0 when the data directory holds no store yet.
    source : str
        The file read.
    """

    layer: str
    n_zones: int
    crs_in: str
    repaired: list[str] = field(default_factory=list)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    gaps_count: int = 0
    gaps_area_km2: float = 0.0
    incidents_assigned: int = 0
    incidents_outside: int = 0
    incidents_unlocated: int = 0
    source: str = ""

    def summary(self) -> str:
        """A few human-readable lines (what the CLI prints)."""
        lines = [
            f"layer {self.layer!r}: {self.n_zones} zones from {self.source} (CRS {self.crs_in})",
            f"incidents: {self.incidents_assigned:,} in a zone, {self.incidents_outside:,} "
            f"outside every zone, {self.incidents_unlocated:,} without coordinates",
        ]
        if self.repaired:
            lines.append("repaired invalid geometry: " + ", ".join(map(repr, self.repaired)))
        if self.overlaps:
            shown = ", ".join(f"{a!r}/{b!r} {km2:.4g} km2" for a, b, km2 in self.overlaps[:10])
            more = f" (and {len(self.overlaps) - 10} more)" if len(self.overlaps) > 10 else ""
            lines.append(f"overlapping zones (points go to the first): {shown}{more}")
        if self.gaps_count:
            lines.append(
                f"gaps (holes in the layer): {self.gaps_count}, {self.gaps_area_km2:.4g} km2"
            )
        return "\n".join(lines)


# ============================================================================ reading files
_VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml")


def _pick(options: Sequence[str], wanted: str | None, noun: str, path) -> str:
    if wanted is not None:
        if wanted in options:
            return wanted
        raise ZoneError(
            f"`source_layer` {wanted!r} is not a {noun} of {path}; its {noun}s: "
            f"{', '.join(options)}"
        )
    if len(options) == 1:
        return options[0]
    raise ZoneError(
        f"{path} holds several {noun}s: {', '.join(options)}; pick one with "
        "`source_layer` (--source-layer NAME)"
    )


def _read_vector(path: str | os.PathLike, source_layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file: GeoJSON, GeoPackage, Shapefile, zipped Shapefile or GeoParquet.

    Parameters
    ----------
    path : path
        The file. A ``.zip`` is read through GDAL's ``/vsizip/`` (the zip may hold the
        Shapefile in a sub-folder; several datasets in it are chosen by ``source_layer``).
    source_layer : str, optional
        The layer of a multi-layer source (GeoPackage); needed when it has several.

    Returns
    -------
    geopandas.GeoDataFrame
        As read (CRS untouched, possibly None).

    Raises
    ------
    IngestError
        The file is missing or unreadable.
    ZoneError
        ``source_layer`` is needed or names no layer of the file.
    """
    import geopandas as gpd
    import pyogrio

    text = str(path)
    direct = text.startswith(("/vsi", "zip://"))
    p = Path(text)
    if not direct and not p.is_file():
        raise IngestError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".geoparquet", ".pq"):
        try:
            return gpd.read_parquet(p)
        except Exception as exc:
            raise IngestError(
                f"cannot read {path} as GeoParquet ({exc}); write it with geopandas `to_parquet`"
            ) from exc
    src = text
    if suffix == ".zip" and not direct:
        import zipfile

        try:
            with zipfile.ZipFile(p) as zf:
                members = [
                    m
                    for m in zf.namelist()
                    if m.lower().endswith(_VECTOR_SUFFIXES) and "__MACOSX" not in m
                ]
        except (zipfile.BadZipFile, OSError) as exc:
            raise IngestError(f"cannot read {path}: not a zip file ({exc})") from exc
        if not members:
            raise IngestError(f"{path} holds no Shapefile (.shp) or other vector file")
        by_stem: dict[str, str] = {}
        for m in members:
            by_stem.setdefault(Path(m).stem, m)
        if source_layer is not None and source_layer in by_stem:
            member = by_stem[source_layer]
            source_layer = None
        elif len(members) == 1:
            member = members[0]
        else:
            member = by_stem[_pick(list(by_stem), source_layer, "dataset", path)]
        src = f"/vsizip/{p.resolve()}/{member}"
    try:
        names = [str(n) for n in pyogrio.list_layers(src)[:, 0]]
    except Exception as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    if not names:
        raise IngestError(f"{path} holds no layer")
    layer = _pick(names, source_layer, "layer", path)
    try:
        return pyogrio.read_dataframe(src, layer=layer)
    except Exception as exc:
        raise IngestError(f"cannot read layer {layer!r} of {path}: {exc}") from exc


def _crs_label(crs) -> str:
    auth = crs.to_authority(min_confidence=90)
    if auth:
        return ":".join(auth)
    return crs.name or crs.to_string()


def _apply_crs(gdf: gpd.GeoDataFrame, crs: str | None, path, problems: list[str]):
    """Give ``gdf`` its CRS (``crs`` overrides the file's) and reproject it to EPSG:4326.

    Problems are appended to ``problems``; returns ``(gdf_4326 or None, crs label)``.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if crs is not None:
        try:
            user = CRS.from_user_input(crs)
        except CRSError as exc:
            problems.append(
                f"`crs` {crs!r} is not a coordinate reference system ({exc}); "
                "pass e.g. --crs EPSG:2227"
            )
            return None, str(crs)
        if gdf.crs is not None and not gdf.crs.equals(user):
            warnings.warn(
                f"{path} declares CRS {_crs_label(gdf.crs)}; reading it as {crs} (`crs` given)",
                UserWarning,
                stacklevel=3,
            )
        gdf = gdf.set_crs(user, allow_override=True)
    elif gdf.crs is None:
        problems.append(
            f"`crs`: {path} has no CRS; pass --crs EPSG:XXXX (the coordinate "
            "system its coordinates are in)"
        )
        return None, "none"
    label = _crs_label(gdf.crs)
    try:
        out = gdf.to_crs("EPSG:4326")
    except Exception as exc:
        problems.append(f"cannot reproject {path} from {label} to EPSG:4326: {exc}")
        return None, label
    geo = out.geometry[~(out.geometry.isna() | out.geometry.is_empty)]
    if len(geo):
        x0, y0, x1, y1 = geo.total_bounds
        if not (
            np.isfinite([x0, y0, x1, y1]).all()
            and -180.000001 <= x0
            and x1 <= 180.000001
            and -90.000001 <= y0
            and y1 <= 90.000001
        ):
            problems.append(
                f"coordinates of {path} read in {label} fall outside longitude/"
                "latitude range after reprojection; is that its CRS? pass "
                "--crs EPSG:XXXX"
            )
            return None, label
    return out, label


def _field_problem(arg: str, name: str, fields: Sequence[str], path) -> str | None:
    """``None`` if ``name`` is a field, else a message listing fields and a close match."""
    if name in fields:
        return None
    ci = {f.lower(): f for f in fields}
    if name.lower() in ci:
        return (
            f"`{arg}` {name!r} is not a field of {path}; did you mean "
            f"{ci[name.lower()]!r}? (names are case-sensitive)"
        )
    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"`{arg}` {name!r} is not a field of {path}; available fields: "
        f"{', '.join(fields) or '(none)'}{hint}"
    )


def _text_values(values) -> list[str | None]:
    """Field values as stripped text; blank, null and NaN become None; 5.0 becomes "5"."""
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
            continue
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        s = str(v).strip()
        out.append(s or None)
    return out


def _listing(items: Sequence[str]) -> str:
    """At most 20 items, comma separated, with a count of the rest."""
    items = list(items)
    head = ", ".join(items[:_MAX_LISTED])
    return head + (f" (and {len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


def _id_problems(
    arg: str, name: str, ids: Sequence[str | None], noun: str, skip: Collection[int] = ()
) -> list[str]:
    """Blank and duplicate ids, named (features numbered from 1; ``skip``: no blank check)."""
    problems = []
    blank = [str(i + 1) for i, v in enumerate(ids) if v is None and i not in skip]
    if blank:
        problems.append(
            f"blank `{arg}` {name!r} in {len(blank)} {noun}(s): feature "
            f"{_listing(blank)} (1 = first feature); every {noun} needs an id"
        )
    counts = Counter(v for v in ids if v is not None)
    dups = [v for v, c in counts.items() if c > 1]
    if dups:
        where = [
            f"{v!r} (features {', '.join(str(i + 1) for i, x in enumerate(ids) if x == v)})"
            for v in dups
        ]
        problems.append(f"duplicate `{arg}` {name!r} values: {_listing(where)}; ids must be unique")
    return problems


# ============================================================================ load_zones
def _check_layer_name(layer) -> None:
    if not isinstance(layer, str) or not LAYER_NAME_RE.fullmatch(layer):
        fix = re.sub(r"[^a-z0-9]+", "_", str(layer).strip().lower()).strip("_")
        if not fix or not fix[0].isalpha():
            fix = "zone_" + fix if fix else "zones"
        raise ZoneError(
            f"`layer` {layer!r} is not a valid layer name: use lower-case "
            f"letters, digits and underscores, starting with a letter, e.g. "
            f"{fix!r}"
        )


def _polygonal(g):
    """The polygonal part of a geometry (None if it has none)."""
    import shapely

    if g is None or g.is_empty:
        return None
    t = g.geom_type
    if t in ("Polygon", "MultiPolygon"):
        return g
    if t == "GeometryCollection":
        parts = []
        for p in shapely.get_parts(g):
            if p.geom_type == "Polygon" and not p.is_empty:
                parts.append(p)
            elif p.geom_type == "MultiPolygon":
                parts.extend(shapely.get_parts(p))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return None


def _repair(
    geoms: np.ndarray, labels: list[str], repairs: dict[int, str], problems: list[str]
) -> None:
    """Drop Z, repair invalid polygons in place (``make_valid``, polygonal parts kept).

    Records ``{index: reason}`` of each repair; a polygon with no area left is a problem.
    """
    import shapely

    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok &= np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    if not ok.any():
        return
    geoms[ok] = shapely.force_2d(geoms[ok])
    for i in np.flatnonzero(ok & ~shapely.is_valid(geoms)):
        reason = shapely.is_valid_reason(geoms[i])
        fixed = _polygonal(shapely.make_valid(geoms[i]))
        if fixed is None or fixed.area == 0:
            problems.append(
                f"zone {labels[i]} has an invalid geometry ({reason}) with no "
                "area left after repair; fix it in the source"
            )
            continue
        geoms[i] = fixed
        repairs.setdefault(int(i), reason)


def _equal_area_crs(bounds):
    """A Lambert azimuthal equal-area projection (WGS84 ellipsoid) centred on ``bounds``."""
    from pyproj import CRS

    x0, y0, x1, y1 = bounds
    return CRS.from_proj4(
        f"+proj=laea +lat_0={(y0 + y1) / 2:.8f} +lon_0={(x0 + x1) / 2:.8f} "
        "+datum=WGS84 +units=m +no_defs"
    )


def _overlaps_and_gaps(proj: np.ndarray, ids: list[str], areas: np.ndarray):
    import shapely

    tree = shapely.STRtree(proj)
    a, b = tree.query(proj, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    overlaps = []
    if len(a):
        try:
            inter = shapely.area(shapely.intersection(proj[a], proj[b]))
        except shapely.errors.GEOSException:  # pragma: no cover - robustness fallback
            inter = shapely.area(shapely.intersection(proj[a], proj[b], grid_size=1e-3))
        smaller = np.minimum(areas[a], areas[b])
        for i, j, m2, lim in zip(a, b, inter, smaller * OVERLAP_MIN_FRACTION, strict=True):
            if m2 > lim:
                overlaps.append((ids[i], ids[j], float(m2) / 1e6))
    union = shapely.union_all(proj)
    rings = [
        r
        for poly in shapely.get_parts(union)
        if poly.geom_type == "Polygon"
        for r in poly.interiors
    ]
    holes = shapely.area(shapely.polygons(rings)) if rings else np.zeros(0)
    holes = holes[holes >= GAP_MIN_M2]
    return overlaps, len(holes), float(holes.sum() / 1e6)


def load_zones(
    root: str | os.PathLike,
    path: str | os.PathLike,
    layer: str,
    id_field: str,
    name_field: str | None = None,
    density_field: str | None = None,
    source_layer: str | None = None,
    crs: str | None = None,
) -> ZoneReport:
    """Load (or replace) a zone layer, then assign every incident of the store to it.

    Parameters
    ----------
    root : path
        The store root (``Store.root``).
    path : path
        GeoJSON, GeoPackage, Shapefile, zipped Shapefile (``.zip``) or GeoParquet, in any
        CRS; polygons are reprojected to EPSG:4326.
    layer : str
        The layer name, snake_case (``[a-z][a-z0-9_]*``), e.g. ``demand_zones``. A layer of
        that name is replaced.
    id_field : str
        The field holding each zone's unique id (stored as text).
    name_field : str, optional
        A field with a display name.
    density_field : str, optional
        A field with the NFPA 1720 demand-zone class of each zone: urban, suburban, rural
        or remote (any case; stored lower-case).
    source_layer : str, optional
        Which layer of a multi-layer source (GeoPackage) to read.
    crs : str, optional
        The CRS of the coordinates (e.g. ``"EPSG:2227"``): required when the file has
        none, and overrides the file's when given.

    Returns
    -------
    ZoneReport
        Zones stored, repairs, overlaps, gaps and the incident counts of the layer.

    Raises
    ------
    ZoneError
        The layer name, a field, an id, a geometry or the CRS is wrong; the message lists
        every problem found.
    IngestError
        The file cannot be read.

    Warns
    -----
    UserWarning
        For each zone whose invalid geometry was repaired (``shapely.make_valid``, keeping
        the polygonal parts), naming the zone.

    Notes
    -----
    Areas, overlaps (zone pairs intersecting by more than 0.01 % of the smaller zone) and
    gaps (holes in the union of the zones; slivers under 1 m2 are ignored as digitising
    noise) are computed in a Lambert azimuthal equal-area projection centred on the layer.

    Examples
    --------
    >>> rep = load_zones(store.root, "demand_zones.gpkg", "demand_zones", id_field="ZONE",
    ...                  density_field="CLASS")  # doctest: +SKIP
    >>> print(rep.summary())  # doctest: +SKIP
    """
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa
    import shapely

    _check_layer_name(layer)
    head = f"cannot load layer {layer!r} from {path}"
    gdf = _read_vector(path, source_layer)
    problems: list[str] = []
    fields = [c for c in gdf.columns if c != gdf.geometry.name]
    if len(gdf) == 0:
        problems.append(f"{path} has no features")
    for arg, name in (
        ("id_field", id_field),
        ("name_field", name_field),
        ("density_field", density_field),
    ):
        if name is not None:
            p = _field_problem(arg, name, fields, path)
            if p:
                problems.append(p)
    ids = _text_values(gdf[id_field]) if id_field in fields else [None] * len(gdf)
    if id_field in fields:
        problems += _id_problems("id_field", id_field, ids, "zone")
    labels = [repr(v) if v is not None else f"feature {i + 1}" for i, v in enumerate(ids)]

    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = [labels[i] for i, g in enumerate(geoms) if g is None or g.is_empty]
    if missing:
        problems.append(f"zones without geometry: {_listing(missing)}")
    bad_type = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        parts_ok = g.geom_type != "GeometryCollection" or all(
            p.geom_type in ("Polygon", "MultiPolygon") for p in shapely.get_parts(g)
        )
        poly = _polygonal(g) if parts_ok else None
        if poly is None:
            bad_type.append(f"{labels[i]} ({g.geom_type})")
        else:
            geoms[i] = poly
    if bad_type:
        problems.append(f"zones must be polygons; these are not: {_listing(bad_type)}")

    density: list[str | None] = [None] * len(gdf)
    if density_field is not None and density_field in fields:
        raw = _text_values(gdf[density_field])
        bad: dict[str, list[str]] = {}
        for i, v in enumerate(raw):
            low = v.lower() if v is not None else None
            if low in DENSITY_CLASSES:
                density[i] = low
            else:
                bad.setdefault("blank" if v is None else repr(v), []).append(labels[i])
        if bad:
            shown = "; ".join(f"{v} (zones {_listing(z)})" for v, z in bad.items())
            problems.append(
                f"`density_field` {density_field!r} must be one of "
                f"{', '.join(DENSITY_CLASSES)} (any case); bad values: {shown}"
            )
    names = (
        _text_values(gdf[name_field])
        if name_field is not None and name_field in fields
        else [None] * len(gdf)
    )

    # repair invalid polygons (where they were drawn, then again after reprojection)
    repairs: dict[int, str] = {}
    _repair(geoms, labels, repairs, problems)
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    gdf4326, crs_in = _apply_crs(gdf, crs, path, problems)
    if problems:
        raise ZoneError(problems, head)
    geoms = np.asarray(gdf4326.geometry.values, dtype=object)
    _repair(geoms, labels, repairs, problems)
    if problems:  # pragma: no cover - reprojection collapsed a polygon
        raise ZoneError(problems, head)
    repaired = [ids[i] for i in sorted(repairs)]
    for i in sorted(repairs):
        warnings.warn(
            f"zone {labels[i]} of layer {layer!r}: invalid geometry ({repairs[i]}); "
            "repaired with shapely.make_valid (polygonal parts kept)",
            UserWarning,
            stacklevel=2,
        )

    ea = _equal_area_crs(shapely.total_bounds(geoms))
    proj = np.asarray(gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(ea).values, dtype=object)
    areas = shapely.area(proj)
    overlaps, gaps_count, gaps_area = _overlaps_and_gaps(proj, ids, areas)

    string = pd.ArrowDtype(pa.string())
    out = gpd.GeoDataFrame(
        {
            "layer": pd.array([layer] * len(ids), dtype=string),
            "zone_id": pd.array(ids, dtype=string),
            "name": pd.array(names, dtype=string),
            "density_class": pd.array(density, dtype=string),
            "area_km2": areas / 1e6,
        },
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
    )
    report = ZoneReport(
        layer=layer,
        n_zones=len(out),
        crs_in=crs_in,
        repaired=repaired,
        overlaps=overlaps,
        gaps_count=gaps_count,
        gaps_area_km2=gaps_area,
        source=str(path),
    )
    with spatial_lock(root):
        init_spatial(root)
        atomic_write(zones_dir(root) / f"{layer}.parquet", lambda p: out.to_parquet(p))
        counts = _assign_with_store(root, [layer])
    c = counts.get(layer, {})
    report.incidents_assigned = c.get("assigned", 0)
    report.incidents_outside = c.get("outside", 0)
    report.incidents_unlocated = c.get("no_coordinates", 0)
    return report


def _assign_with_store(root, layers: list[str] | None) -> dict[str, dict[str, int]]:
    """Assign incidents of the store at ``root`` (if there is one) to ``layers``."""
    from ..store import Store

    try:
        store = Store(root, create=False)
    except StoreError:
        return {}
    con = store.connect(read_only=False)
    try:
        return _assign_incidents(root, con, layers, None)
    finally:
        con.close()


def list_layers(root: str | os.PathLike) -> list[str]:
    """Names of the zone layers loaded in the store, sorted.

    Parameters
    ----------
    root : path
        The store root.

    Returns
    -------
    list of str
    """
    d = zones_dir(root)
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.parquet") if LAYER_NAME_RE.fullmatch(p.stem))


def _unknown_layer(root, layer) -> ZoneError:
    loaded = list_layers(root)
    return ZoneError(
        f"`layer` {layer!r} is not loaded; loaded layers: "
        f"{', '.join(loaded) if loaded else '(none)'}; load one with "
        "`dispatch zones load`"
    )


def read_layer(root: str | os.PathLike, layer: str) -> gpd.GeoDataFrame:
    """One zone layer as a GeoDataFrame (EPSG:4326), in zone order.

    Parameters
    ----------
    root : path
        The store root.
    layer : str
        A loaded layer (see :func:`list_layers`).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``layer, zone_id, name, density_class, area_km2, geometry``.

    Raises
    ------
    ZoneError
        The layer is not loaded (the message lists the loaded ones).
    """
    import geopandas as gpd

    p = zones_dir(root) / f"{layer}.parquet"
    if not isinstance(layer, str) or not LAYER_NAME_RE.fullmatch(layer) or not p.is_file():
        raise _unknown_layer(root, layer)
    return gpd.read_parquet(p)


# ============================================================================ point in zone
class _GridIndex:
    """A regular grid over the zones' bounds, each cell labelled once.

    A cell whose (slightly enlarged) box touches no zone is *empty*; one touching exactly one
    zone that contains the whole box is *pure* (its points all belong to that zone); any
    other cell is *mixed* and its points are tested exactly against the zones touching it
    (a CSR list per cell). Points outside the grid are in no zone.
    """

    def __init__(self, geoms: np.ndarray, usable: np.ndarray, n_cells: int):
        import shapely

        self.geoms = geoms
        order = np.flatnonzero(usable)
        x0, y0, x1, y1 = shapely.total_bounds(geoms[order])
        # a few hundred ulps of the coordinates: far above the rounding of the cell index
        ulp = 256 * float(np.spacing(max(abs(x0), abs(x1), abs(y0), abs(y1), 1.0)))
        pad = max(1e-9 * max(x1 - x0, y1 - y0), ulp)
        x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
        w, h = x1 - x0, y1 - y0
        gx = int(min(max(1, round(math.sqrt(n_cells * w / h))), n_cells))
        gy = int(max(1, round(n_cells / gx)))
        self.x0, self.y0, self.gx, self.gy = x0, y0, gx, gy
        self.dx, self.dy = w / gx, h / gy
        self.ncell = gx * gy
        ix, iy = np.divmod(np.arange(self.ncell), gy)
        ex, ey = max(1e-6 * self.dx, ulp), max(1e-6 * self.dy, ulp)
        boxes = shapely.box(
            x0 + ix * self.dx - ex,
            y0 + iy * self.dy - ey,
            x0 + (ix + 1) * self.dx + ex,
            y0 + (iy + 1) * self.dy + ey,
        )
        tree = shapely.STRtree(boxes)
        zi, ci = tree.query(geoms[order], predicate="intersects")
        zi = order[zi]
        cnt = np.bincount(ci, minlength=self.ncell)
        zc, cc = tree.query(geoms[order], predicate="contains")
        zc = order[zc]
        label = np.full(self.ncell + 1, -1, np.int32)  # last slot: outside the grid
        label[: self.ncell][cnt > 0] = -2
        pure = cnt[cc] == 1
        label[cc[pure]] = zc[pure]
        self.label = label
        srt = np.lexsort((zi, ci))
        self.cand = zi[srt].astype(np.int32)
        self.ptr = np.zeros(self.ncell + 1, np.int64)
        np.cumsum(cnt, out=self.ptr[1:])

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        fx = (x - self.x0) / self.dx
        fy = (y - self.y0) / self.dy
        inside = (fx >= 0) & (fx < self.gx) & (fy >= 0) & (fy < self.gy)  # NaN: False
        out = ~inside
        np.copyto(fx, 0.0, where=out)
        np.copyto(fy, 0.0, where=out)
        cell = fx.astype(np.int64)
        cell *= self.gy
        cell += fy.astype(np.int64)
        np.copyto(cell, self.ncell, where=out)
        return cell

    def assign(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        cell = self.cells(x, y)
        lab = self.label[cell]
        mixed = np.flatnonzero(lab == -2)
        if mixed.size:
            lab[mixed] = self._resolve(x[mixed], y[mixed], cell[mixed])
        return lab

    def _resolve(self, x: np.ndarray, y: np.ndarray, cell: np.ndarray) -> np.ndarray:
        import shapely

        start = self.ptr[cell]
        counts = self.ptr[cell + 1] - start
        total = int(counts.sum())
        point = np.repeat(np.arange(len(cell)), counts)
        first = np.cumsum(counts) - counts
        pos = np.repeat(start - first, counts) + np.arange(total)
        zone = self.cand[pos]
        srt = np.argsort(zone, kind="stable")
        zs = zone[srt]
        cuts = np.flatnonzero(zs[1:] != zs[:-1]) + 1
        hit = np.zeros(total, bool)
        for seg in np.split(srt, cuts):
            p = point[seg]
            hit[seg] = shapely.intersects_xy(self.geoms[zone[seg[0]]], x[p], y[p])
        res = np.full(len(cell), np.iinfo(np.int32).max, np.int32)
        np.minimum.at(res, point[hit], zone[hit])
        res[res == np.iinfo(np.int32).max] = -1
        return res


def _assign_direct(x, y, geoms, usable) -> np.ndarray:
    import shapely

    out = np.full(len(x), -1, np.int32)
    bounds = shapely.bounds(geoms)
    for i in np.flatnonzero(usable):
        bx0, by0, bx1, by1 = bounds[i]
        c = np.flatnonzero((out < 0) & (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1))
        if c.size:
            out[c[shapely.intersects_xy(geoms[i], x[c], y[c])]] = i
    return out


def assign_point_index(lon, lat, geoms) -> np.ndarray:
    """The position of the zone each point falls in, or -1 (vectorised point in polygon).

    Parameters
    ----------
    lon, lat : array-like of float
        Point coordinates, in the CRS of ``geoms``. NaN gives -1.
    geoms : array-like of shapely geometries
        Polygons in zone order (None / empty ones never match).

    Returns
    -------
    numpy.ndarray of int32
        Same shape as ``lon``. Zones are closed: a point on an edge is in the zone; a point
        in several zones (shared edge, overlap) gets the first in zone order.

    Notes
    -----
    No shapely Point objects are built. Small inputs scan the zones in order with a bbox
    prefilter and ``shapely.intersects_xy`` on prepared polygons; large ones first label a
    regular grid over the layer (empty / inside one zone / mixed) and test exactly only
    the points of mixed cells.
    """
    import shapely

    x = np.ascontiguousarray(lon, dtype=np.float64)
    y = np.ascontiguousarray(lat, dtype=np.float64)
    if x.shape != y.shape:
        raise ZoneError(f"`lon` and `lat` differ in shape: {x.shape} vs {y.shape}")
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    geoms = np.asarray(geoms, dtype=object).ravel()
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if x.size == 0 or not usable.any():
        return np.full(shape, -1, np.int32)
    shapely.prepare(geoms[usable])
    nz = int(usable.sum())
    if x.size * nz <= _DIRECT_MAX_WORK:
        return _assign_direct(x, y, geoms, usable).reshape(shape)
    n_cells = int(min(max(x.size // 40, 16 * nz, 1024), 1 << 18))
    grid = _GridIndex(geoms, usable, n_cells)
    out = np.empty(x.size, np.int32)
    for s in range(0, x.size, _CHUNK):
        out[s : s + _CHUNK] = grid.assign(x[s : s + _CHUNK], y[s : s + _CHUNK])
    return out.reshape(shape)


def _zone_geoms_4326(zones_gdf) -> np.ndarray:
    crs = zones_gdf.crs
    if crs is not None and crs.to_epsg() != 4326 and crs.to_authority() != ("OGC", "CRS84"):
        zones_gdf = zones_gdf.to_crs("EPSG:4326")
    return np.asarray(zones_gdf.geometry.values, dtype=object)


def assign_points(lon, lat, zones_gdf: gpd.GeoDataFrame, id_col: str = "zone_id") -> np.ndarray:
    """The id of the zone each point falls in (vectorised point in polygon).

    Parameters
    ----------
    lon, lat : array-like of float
        WGS84 longitude and latitude of the points (NaN: no zone).
    zones_gdf : geopandas.GeoDataFrame
        The zones, in zone order (reprojected to EPSG:4326 if it has another CRS).
    id_col : str
        The column holding zone ids.

    Returns
    -------
    numpy.ndarray of object
        The zone id of each point, or None for points in no zone and NaN coordinates.

    Notes
    -----
    Zones are closed sets: a point exactly on a zone's edge is in it. A point in several
    zones -- on an edge shared by two zones, or where zones overlap -- is assigned to the
    first of them in zone order (the row order of ``zones_gdf``), so the result is
    deterministic. 10 million points against the 41 SF neighbourhoods take about 1 s.

    Examples
    --------
    >>> ids = assign_points(df["longitude"], df["latitude"], read_layer(root, "nhoods"))  # doctest: +SKIP
    """
    if id_col not in zones_gdf.columns:
        raise ZoneError(
            _field_problem("id_col", id_col, [str(c) for c in zones_gdf.columns], "the zones frame")
        )
    import pandas as pd

    idx = assign_point_index(lon, lat, _zone_geoms_4326(zones_gdf))
    ids = np.empty(len(zones_gdf) + 1, dtype=object)
    ids[:-1] = [None if pd.isna(v) else v for v in zones_gdf[id_col].tolist()]
    ids[-1] = None
    return ids[idx]


# ============================================================================ incidents
def _h3_cells(lat: np.ndarray, lon: np.ndarray, resolution: int) -> pl.Series:
    """H3 cell (hex string) of each point; null where a coordinate is missing.

    h3 4.x has no vectorised ``latlng_to_cell``, so the scalar integer API runs once per
    distinct coordinate pair (incidents repeat block / intersection points), and the
    integer -> hex text conversion once per distinct cell.
    """
    from h3.api import basic_int

    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    uniq, inverse = np.unique(lat[ok] + 1j * lon[ok], return_inverse=True)
    ints = np.empty(len(uniq), np.uint64)
    f = basic_int.latlng_to_cell
    step = 1 << 17  # bounded Python-object lists
    for s in range(0, len(uniq), step):
        la, lo = uniq.real[s : s + step].tolist(), uniq.imag[s : s + step].tolist()
        ints[s : s + len(la)] = np.fromiter(
            (f(a, b, resolution) for a, b in zip(la, lo, strict=True)), np.uint64, len(la)
        )
    cells, cell_of_uniq = np.unique(ints, return_inverse=True)
    code = np.full(len(lat), -1, np.int64)
    code[ok] = cell_of_uniq[inverse]
    if len(cells) == 0:
        return pl.Series("h3_cell", [None] * len(lat), dtype=pl.String)
    text = pl.Series([format(int(c), "x") for c in cells], dtype=pl.String)
    code_s = pl.Series(code)
    return pl.select(
        pl.when(code_s >= 0).then(pl.lit(text).gather(code_s.clip(0))).alias("h3_cell")
    ).to_series()


def _read_incidents(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    try:
        rel = con.sql("select incident_id, latitude, longitude from incidents")
        df = rel.pl()
    except duckdb.CatalogException as exc:
        raise StoreError(
            "the connection has no `incidents` view; pass the one `Store(root).connect()` returns"
        ) from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot read incidents: {exc}") from exc
    return df.with_columns(
        pl.col("incident_id").cast(pl.String),
        pl.col("latitude").cast(pl.Float64),
        pl.col("longitude").cast(pl.Float64),
    )


def _assign_incidents(root, con, layers, h3_resolution) -> dict[str, dict[str, int]]:
    all_layers = list_layers(root)
    todo = all_layers if layers is None else list(layers)
    for layer in todo:
        if layer not in all_layers:
            raise _unknown_layer(root, layer)
    if h3_resolution is not None and (
        isinstance(h3_resolution, bool)
        or not isinstance(h3_resolution, (int, np.integer))
        or not 0 <= h3_resolution <= 15
    ):
        raise ZoneError(f"`h3_resolution` must be an integer from 0 to 15, got {h3_resolution!r}")
    init_spatial(root)
    inc = _read_incidents(con)
    lat = inc["latitude"].to_numpy().astype(np.float64)
    lon = inc["longitude"].to_numpy().astype(np.float64)
    located = np.isfinite(lat) & np.isfinite(lon)
    n_located = int(located.sum())
    counts: dict[str, dict[str, int]] = {}
    for layer in todo:
        zones = read_layer(root, layer)
        idx = assign_point_index(lon, lat, _zone_geoms_4326(zones))
        ids = pl.Series("zone_id", _text_values(zones["zone_id"].tolist()), dtype=pl.String)
        out = inc.select(
            pl.col("incident_id"),
            pl.lit(layer, pl.String).alias("layer"),
            pl.when(pl.Series(idx) >= 0)
            .then(pl.lit(ids).gather(pl.Series(idx).clip(0)))
            .cast(pl.String)
            .alias("zone_id"),
        )
        atomic_write(incident_zones_dir(root) / f"{layer}.parquet", out.write_parquet)
        assigned = int((idx >= 0).sum())
        counts[layer] = {
            "assigned": assigned,
            "outside": n_located - assigned,
            "no_coordinates": len(idx) - n_located,
        }
    if layers is None:  # drop assignments of layers that are gone
        for p in incident_zones_dir(root).glob("*.parquet"):
            if LAYER_NAME_RE.fullmatch(p.stem) and p.stem not in all_layers:
                p.unlink(missing_ok=True)
    if h3_resolution is not None:
        cells = inc.select(
            pl.col("incident_id"),
            pl.lit(int(h3_resolution), pl.Int8).alias("resolution"),
            _h3_cells(lat, lon, int(h3_resolution)).alias("h3_cell"),
        )
        atomic_write(cells_path(root), cells.write_parquet)
    return counts


def assign_incidents(
    root: str | os.PathLike,
    con: duckdb.DuckDBPyConnection,
    layers: Sequence[str] | None = None,
    h3_resolution: int | None = 8,
) -> dict[str, dict[str, int]]:
    """Assign every incident to a zone of each layer, and to an H3 cell.

    Writes ``spatial/incident_zones/<layer>.parquet`` (``incident_id, layer, zone_id``;
    zone_id null when the incident is in no zone or has no coordinates) for each layer and
    ``spatial/incident_cells.parquet`` (``incident_id, resolution, h3_cell``), atomically.
    Run it after every ingest (new incidents have no assignment until then).

    Parameters
    ----------
    root : path
        The store root.
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views (``Store(root).connect()``); only the
        ``incidents`` view is read.
    layers : list of str, optional
        Layers to (re)assign; default every loaded layer (assignments of layers no longer
        loaded are then removed).
    h3_resolution : int or None
        H3 resolution 0-15 (8: cells of about 0.74 km2); None leaves the cells file as is.

    Returns
    -------
    dict
        ``{layer: {"assigned": n, "outside": n, "no_coordinates": n}}``; ``outside``
        counts incidents with coordinates in no zone.

    Raises
    ------
    ZoneError
        A layer is not loaded, or the resolution is out of range.
    StoreError
        ``con`` has no ``incidents`` view.
    """
    with spatial_lock(root):
        return _assign_incidents(root, con, layers, h3_resolution)


def outside_incidents(
    con: duckdb.DuckDBPyConnection, layer: str, include_unlocated: bool = False
) -> pl.DataFrame:
    """Incidents outside every zone of a layer (from the ``incident_zones`` view).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection with the catalog views, including those of :func:`spatial_view_sql`.
    layer : str
        A loaded layer.
    include_unlocated : bool
        Also list incidents without coordinates (by default only located ones).

    Returns
    -------
    polars.DataFrame
        ``incident_id, latitude, longitude``, by incident id.

    Raises
    ------
    ZoneError
        The layer is not loaded, or the connection lacks the spatial views.
    """
    try:
        loaded = [
            r[0] for r in con.execute("select distinct layer from zones order by 1").fetchall()
        ]
        if layer not in loaded:
            raise ZoneError(
                f"`layer` {layer!r} is not loaded; loaded layers: "
                f"{', '.join(loaded) if loaded else '(none)'}; load one with "
                "`dispatch zones load`"
            )
        where = (
            "" if include_unlocated else (" and i.latitude is not null and i.longitude is not null")
        )
        return con.execute(
            "select z.incident_id, i.latitude, i.longitude from incident_zones z "
            "left join incidents i using (incident_id) "
            f"where z.layer = $layer and z.zone_id is null{where} order by z.incident_id",
            {"layer": layer},
        ).pl()
    except duckdb.CatalogException as exc:
        raise ZoneError(
            "the connection lacks the `zones` / `incident_zones` / `incidents` "
            f"views ({exc}); add spatial_view_sql(root) to the catalog"
        ) from exc
