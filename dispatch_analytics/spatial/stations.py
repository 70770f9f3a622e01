"""Stations: fire / EMS station points whose ids match the incidents' ``station_id``.

Stored under the store root as ``spatial/stations.parquet`` (GeoParquet, EPSG:4326:
``station_id, name, latitude, longitude, geometry``), written atomically; loading stations
replaces the previous set. The ``stations`` view (see
:func:`dispatch_analytics.store.spatial_tables.spatial_view_sql`) reads it.

Loading runs in steps: read the file (a vector file with
:func:`~dispatch_analytics.io.vector.read_vector`, or a CSV / TSV of coordinates), pick the id
and name fields, derive the ids, check the points, bring them to EPSG:4326
(:func:`~dispatch_analytics.io.vector.apply_crs`), raise once listing every problem, then
write the stations atomically under the spatial lock.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IngestError, StationError, StoreError
from ..io.vector import apply_crs, read_vector
from ..store.crash import crash_point
from ..store.spatial_tables import atomic_write, init_spatial, spatial_lock, stations_path
from .validate import (
    checked_ids,
    feature_labels,
    field_problem,
    id_problems,
    listing,
    text_values,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "ID_CANDIDATES",
    "NAME_CANDIDATES",
    "StationError",
    "StationReport",
    "load_stations",
    "read_stations",
]

#: Fields tried, in order and ignoring case, when no ``id_field`` is given.
ID_CANDIDATES: tuple[str, ...] = (
    "station_id",
    "stationid",
    "station",
    "station_no",
    "station_number",
    "station_num",
    "stn_id",
    "stn",
    "id",
    "name",
    "station_name",
    "common_name",
)
#: Fields tried, in order and ignoring case, when no ``name_field`` is given.
NAME_CANDIDATES: tuple[str, ...] = (
    "name",
    "station_name",
    "common_name",
    "facility_name",
    "label",
    "title",
)
_LAT = ("latitude", "lat", "y", "point_y")
_LON = ("longitude", "lon", "lng", "long", "x", "point_x")
_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}


@dataclass
class StationReport:
    """What :func:`load_stations` stored.

    Attributes
    ----------
    source : str
        The file read.
    n_stations : int
        Stations stored.
    id_field, name_field : str or None
        The fields used (guessed when not given).
    crs_in : str
        The CRS the coordinates were read in.
    station_ids : list of str
        The stored ids, in file order.
    incident_stations_missing : list of str
        ``station_id`` values of stored incidents that have no station point (empty when
        the store holds no incidents).
    """

    source: str
    n_stations: int
    id_field: str
    name_field: str | None
    crs_in: str
    station_ids: list[str] = field(default_factory=list)
    incident_stations_missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few human-readable lines (what the CLI prints)."""
        lines = [
            f"{self.n_stations} stations from {self.source} (id field {self.id_field!r}, "
            f"CRS {self.crs_in}): {listing(self.station_ids)}"
        ]
        if self.incident_stations_missing:
            lines.append(
                "station ids in the incidents without a station point: "
                + listing(self.incident_stations_missing)
            )
        return "\n".join(lines)


def _guess(fields: list[str], candidates: tuple[str, ...]) -> str | None:
    low = {f.lower(): f for f in reversed(fields)}
    for c in candidates:
        if c in low:
            return low[c]
    return None


def _read_table(path: Path, lat_field, lon_field, problems: list[str]):
    """A CSV of points -> GeoDataFrame without CRS (None if coordinates are unusable)."""
    import geopandas as gpd
    import polars as pl

    try:
        df = pl.read_csv(
            path,
            separator=_TABLE_SUFFIXES[path.suffix.lower()],
            infer_schema=False,
            encoding="utf8-lossy",
        )
    except Exception as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    cols = df.columns
    picked = {}
    for arg, given, cands in (("lat_field", lat_field, _LAT), ("lon_field", lon_field, _LON)):
        if given is not None:
            p = field_problem(arg, given, cols, path)
            if p:
                problems.append(p)
            else:
                picked[arg] = given
        else:
            g = _guess(cols, cands)
            if g is None:
                problems.append(
                    f"no `{arg}` column found in {path} (tried "
                    f"{', '.join(cands)}); pass --{arg.replace('_', '-')} NAME"
                )
            else:
                picked[arg] = g
    if len(picked) < 2:
        return gpd.GeoDataFrame(df.to_pandas()), None
    ys = df[picked["lat_field"]].str.strip_chars().cast(pl.Float64, strict=False).to_numpy()
    xs = df[picked["lon_field"]].str.strip_chars().cast(pl.Float64, strict=False).to_numpy()
    bad = np.flatnonzero(~(np.isfinite(xs) & np.isfinite(ys)))
    geom = gpd.points_from_xy(
        np.where(np.isfinite(xs), xs, 0.0), np.where(np.isfinite(ys), ys, 0.0)
    )
    geom = np.asarray(geom, dtype=object)
    geom[bad] = None
    pdf = df.drop(picked["lat_field"], picked["lon_field"]).to_pandas()
    return gpd.GeoDataFrame(pdf, geometry=gpd.GeoSeries(list(geom))), picked


def _incident_station_ids(root, agency: str | None = None) -> list[str]:
    from ..store import Store

    try:
        store = Store(root, create=False)
    except StoreError:
        return []
    try:
        con = store.connect_attached()
    except StoreError:  # pragma: no cover
        return []
    try:
        rows = con.execute(
            "select distinct station_id from responses_all where station_id is not null "
            "and ($agency is null or agency = $agency)",
            {"agency": agency},
        ).fetchall()
    except Exception:  # pragma: no cover - best effort
        return []
    finally:
        con.close()
    return [r[0] for r in rows]


def _check_options(id_regex, zero_pad, problems: list[str]) -> re.Pattern | None:
    """The compiled ``id_regex`` (None if not given or invalid); problems of both options."""
    rx = None
    if id_regex is not None:
        try:
            rx = re.compile(id_regex)
        except re.error as exc:
            problems.append(f"`id_regex` {id_regex!r} is not a regular expression ({exc})")
    if zero_pad is not None and (
        isinstance(zero_pad, bool) or not isinstance(zero_pad, int) or not 1 <= zero_pad <= 32
    ):
        problems.append(f"`zero_pad` must be an integer from 1 to 32, got {zero_pad!r}")
    return rx


def _read_source(path, crs, lat_field, lon_field, problems: list[str]):
    """The stations as a GeoDataFrame: a CSV / TSV of coordinates or a vector file."""
    p = Path(path)
    if p.suffix.lower() not in _TABLE_SUFFIXES:
        return read_vector(path)
    if not p.is_file():
        raise IngestError(f"{path}: no such file")
    gdf, picked = _read_table(p, lat_field, lon_field, problems)
    if picked is not None and crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    return gdf


def _pick_fields(gdf, id_field, name_field, path, problems: list[str]):
    """The fields of ``gdf`` and the id and name fields: as given (checked), else guessed."""
    fields = [str(c) for c in gdf.columns if c != gdf.active_geometry_name]
    if len(gdf) == 0:
        problems.append(f"{path} has no features")
    if id_field is None:
        id_field = _guess(fields, ID_CANDIDATES)
        if id_field is None:
            problems.append(
                f"no station id field found in {path} (tried "
                f"{', '.join(ID_CANDIDATES)}); pass --id-field FIELD; its fields: "
                f"{', '.join(fields) or '(none)'}"
            )
    else:
        prob = field_problem("id_field", id_field, fields, path)
        if prob:
            problems.append(prob)
    if name_field is None:
        name_field = _guess(fields, NAME_CANDIDATES)
    else:
        prob = field_problem("name_field", name_field, fields, path)
        if prob:
            problems.append(prob)
    return fields, id_field, name_field


def _station_ids(values, id_field, rx, id_regex, zero_pad, problems: list[str]):
    """Ids from the id field: extracted by ``rx``, zero-padded; blank / duplicate checked."""
    raw = text_values(values)
    ids: list[str | None] = [None] * len(raw)
    nomatch = []
    for i, v in enumerate(raw):
        if v is not None and rx is not None:
            m = rx.search(v)
            if m is None:
                nomatch.append(f"{v!r} (feature {i + 1})")
                v = None
            else:
                v = (m.group(1) if rx.groups else m.group(0)) or None
        if v is not None and zero_pad and v.isdigit():
            v = v.zfill(zero_pad)
        ids[i] = v
    if nomatch:
        problems.append(
            f"`id_regex` {id_regex!r} matches nothing in `{id_field}` of {listing(nomatch)}"
        )
    unmatched = {i for i, v in enumerate(raw) if v is not None and ids[i] is None}
    problems += id_problems("id_field", id_field, ids, "station", skip=unmatched)
    return ids


def _locate(gdf, labels, crs, path, problems: list[str]):
    """Check the points (single-point MultiPoints become points) and reproject them.

    Returns ``(frame in EPSG:4326 or None, CRS label)``.
    """
    import geopandas as gpd
    import shapely

    geoms = (
        np.asarray(gdf.geometry.values, dtype=object)
        if gdf.active_geometry_name is not None
        else np.array([], dtype=object)
    )
    missing = [labels[i] for i, g in enumerate(geoms) if g is None or g.is_empty]
    if missing:
        problems.append(f"stations without a location: {listing(missing)}")
    bad = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        if g.geom_type == "MultiPoint" and shapely.get_num_geometries(g) == 1:
            geoms[i] = shapely.get_geometry(g, 0)
        elif g.geom_type != "Point":
            bad.append(f"{labels[i]} ({g.geom_type})")
    if bad:
        problems.append(f"stations must be points; these are not: {listing(bad)}")
    if not len(geoms) or missing:
        return None, "EPSG:4326"
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return apply_crs(gdf, crs, path, problems, stacklevel=3)  # the caller of load_stations


def _write_stations(root, out, ids: list[str], agency: str | None) -> list[str]:
    """Replace the stations of ``agency`` (None: the shared ones) atomically under the spatial
    lock, keeping the others; incident station ids of that agency not among them."""
    import pandas as pd

    with spatial_lock(root):
        crash_point("stations.locked")
        init_spatial(root)
        old = read_stations(root)
        if agency is None:  # shared stations replace the shared ones
            keep = old[old["agency"].notna()]
        else:
            keep = old[old["agency"].isna() | (old["agency"] != agency)]
        if len(keep):
            out = pd.concat([keep[out.columns], out], ignore_index=True)
        atomic_write(stations_path(root), out.to_parquet, "stations.file")
    known = set(ids)
    return sorted({s for s in _incident_station_ids(root, agency) if s not in known})


def _station_frame(ids, names, gdf4326, agency: str | None = None):
    """The stations as stored: ids and names as Arrow strings, coordinates, EPSG:4326."""
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa
    import shapely

    pts = shapely.force_2d(np.asarray(gdf4326.geometry.values, dtype=object))
    string = pd.ArrowDtype(pa.string())
    return gpd.GeoDataFrame(
        {
            "agency": pd.array([agency] * len(ids), dtype=string),
            "station_id": pd.array(ids, dtype=string),
            "name": pd.array(names, dtype=string),
            "latitude": shapely.get_y(pts),
            "longitude": shapely.get_x(pts),
        },
        geometry=gpd.GeoSeries(pts, crs="EPSG:4326"),
    )


def load_stations(
    root: str | os.PathLike,
    path: str | os.PathLike,
    id_field: str | None = None,
    name_field: str | None = None,
    crs: str | None = None,
    id_regex: str | None = None,
    zero_pad: int | None = None,
    lat_field: str | None = None,
    lon_field: str | None = None,
    agency: str | None = None,
) -> StationReport:
    """Load (replace) the station points of one agency, or the shared ones.

    Parameters
    ----------
    root : path
        The store root (``Store.root``).
    path : path
        GeoJSON, GeoPackage, Shapefile (or zipped), GeoParquet with point geometry, or a
        CSV / TSV with latitude and longitude columns.
    id_field : str, optional
        The field holding the station id. Default: the first field named (ignoring case)
        one of :data:`ID_CANDIDATES` (station_id, station, ..., id, name, common_name).
    name_field : str, optional
        A display-name field; default: the first of :data:`NAME_CANDIDATES` present.
    crs : str, optional
        The CRS of the coordinates: required for a vector file without one, overrides the
        file's when given. A CSV is read as EPSG:4326 unless given (then its "longitude"
        and "latitude" columns hold x and y).
    id_regex : str, optional
        A regular expression that extracts the id from the field (its first group, else
        the whole match), e.g. ``r"#(\\d+)"`` turns "Fire Station #15" into "15".
    zero_pad : int, optional
        Left-pad all-digit ids with zeros to this width ("7" -> "07"), to match incident
        files that write station areas that way.
    lat_field, lon_field : str, optional
        The coordinate columns of a CSV (guessed: latitude / lat / y, longitude / lon /
        lng / x).
    agency : str, optional
        The agency the stations belong to: they replace that agency's stations (other
        agencies' stay). Without it they are shared stations and replace the shared ones.

    Returns
    -------
    StationReport

    Raises
    ------
    StationError
        A field is missing, ids are blank, duplicated or do not match ``id_regex``, a
        geometry is not a point, the CRS is missing...; every problem is listed.
    IngestError
        The file cannot be read.

    Examples
    --------
    >>> load_stations(store.root, "sf_fire_stations.geojson", id_field="common_name",
    ...               id_regex=r"#(\\d+)", zero_pad=2)  # doctest: +SKIP
    """
    head = f"cannot load stations from {path}"
    problems: list[str] = []
    rx = _check_options(id_regex, zero_pad, problems)
    gdf = _read_source(path, crs, lat_field, lon_field, problems)
    fields, id_field, name_field = _pick_fields(gdf, id_field, name_field, path, problems)
    ids: list[str | None] = [None] * len(gdf)
    if id_field is not None and id_field in fields:
        ids = _station_ids(gdf[id_field], id_field, rx, id_regex, zero_pad, problems)
    gdf4326, crs_in = _locate(gdf, feature_labels(ids), crs, path, problems)
    if problems:
        raise StationError(problems, head)
    names = text_values(gdf[name_field]) if name_field is not None else [None] * len(ids)
    out = _station_frame(ids, names, gdf4326, agency)
    station_ids = checked_ids(ids)
    missing_ids = _write_stations(root, out, station_ids, agency)
    return StationReport(
        source=str(path),
        n_stations=len(out),
        id_field=id_field,
        name_field=name_field,
        crs_in=crs_in,
        station_ids=station_ids,
        incident_stations_missing=missing_ids,
    )


def read_stations(root: str | os.PathLike) -> gpd.GeoDataFrame:
    """The stored stations (EPSG:4326), in file order; an empty frame if none are loaded.

    Parameters
    ----------
    root : path
        The store root.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``agency`` (None: shared), ``station_id, name, latitude, longitude,
        geometry``.
    """
    import geopandas as gpd
    import pandas as pd
    import pyarrow.parquet as pq

    p = stations_path(root)
    if p.is_file() and b"geo" in (pq.read_schema(p).metadata or {}):
        gdf = gpd.read_parquet(p)
        if "agency" not in gdf.columns:  # written before stations had an agency: shared
            gdf.insert(0, "agency", pd.array([None] * len(gdf), dtype="string"))
        return gdf
    return gpd.GeoDataFrame(
        {"agency": [], "station_id": [], "name": [], "latitude": [], "longitude": []},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
    ).astype(
        {
            "agency": "string",
            "station_id": "string",
            "name": "string",
            "latitude": float,
            "longitude": float,
        }
    )
