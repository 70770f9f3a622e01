"""Writing the sample city's files: GIS layers, the CAD export CSV and the mapping TOML.

The README is written by :mod:`.readme`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import shapely

from ..errors import SampleError
from .calls import _Incidents, _UnitRows
from .constants import (
    _MAX_INTERVAL_S,
    _N_BATTALIONS,
    _N_STATIONS,
    _TIME_COLUMNS,
    _UNIT_TYPE_LABELS,
    AGENCY,
    CALL_TYPES,
    CSV_COLUMNS,
    EMS_TYPES,
    FIRE_TYPES,
    OTHER_TYPES,
    TIMESTAMP_FORMAT,
    TIMEZONE,
)
from .dirty import _Dirty
from .geography import _Geography, _geoms_to_lonlat, _unit_label
from .zonetable import _ZoneTable

__all__ = ["mapping_toml", "_write_gis", "_build_table", "_write_csv"]


# ====================================================================== GIS layers
def _write_gis(geo: _Geography, paths: dict[str, Path]) -> np.ndarray:
    """Write the three GeoJSON layers; the station areas as read back (lon/lat cells)."""
    try:
        _write_geojson(geo, paths["stations"], paths["areas"], paths["battalions"])
        import geopandas as gpd

        return np.asarray(gpd.read_file(paths["areas"]).geometry.values, dtype=object)
    except OSError as exc:
        raise SampleError(f"cannot write GIS layers to {paths['out']}: {exc}") from exc


def _write_geojson(geo: _Geography, stations: Path, areas: Path, battalions: Path) -> None:
    import geopandas as gpd

    bat_ids = [f"BAT{int(b) + 1}" for b in geo.battalion]
    units = []
    for s in range(_N_STATIONS):
        units.append(",".join(_unit_label(k, s, geo) for k in range(4) if geo.has_unit[k, s]))
    pts = shapely.points(geo.station_xy)
    opts = {"driver": "GeoJSON", "COORDINATE_PRECISION": 7}
    for path in (stations, areas, battalions):
        path.unlink(missing_ok=True)
    gpd.GeoDataFrame(
        {
            "station_id": geo.station_ids,
            "name": geo.station_names,
            "battalion_id": bat_ids,
            "units": units,
        },
        geometry=_geoms_to_lonlat(pts),
        crs="EPSG:4326",
    ).to_file(stations, **opts)
    gpd.GeoDataFrame(
        {"station_id": geo.station_ids, "name": geo.station_names, "battalion_id": bat_ids},
        geometry=_geoms_to_lonlat(geo.areas),
        crs="EPSG:4326",
    ).to_file(areas, **opts)
    gpd.GeoDataFrame(
        {
            "battalion_id": [f"BAT{i + 1}" for i in range(_N_BATTALIONS)],
            "name": [f"Battalion {i + 1}" for i in range(_N_BATTALIONS)],
        },
        geometry=_geoms_to_lonlat(geo.battalions),
        crs="EPSG:4326",
    ).to_file(battalions, **opts)


# ====================================================================== CAD export
def _format_local(local: np.ndarray) -> pl.Series:
    s = pl.Series(local, dtype=pl.Float64, nan_to_null=True).cast(pl.Int64) * 1_000_000
    return s.cast(pl.Datetime("us")).dt.strftime(TIMESTAMP_FORMAT)


def _incident_numbers(t0: np.ndarray, zt: _ZoneTable) -> pl.Series:
    """``YY-NNNNNN`` of each incident: numbered per local year of receipt."""
    local_rcvd_inc = zt.local(t0.astype(np.float64))
    year = (
        pl.Series(local_rcvd_inc * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us")).dt.year()
    ).to_numpy()
    first_of_year = np.searchsorted(year, year, side="left")
    seq = np.arange(t0.size) - first_of_year + 1
    return (
        pl.Series(year % 100).cast(pl.String).str.zfill(2)
        + "-"
        + pl.Series(seq).cast(pl.String).str.zfill(6)
    )


def _lookup(values, index: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(index)


def _build_table(
    incs: _Incidents, rows: _UnitRows, dirty: _Dirty, geo: _Geography, zt: _ZoneTable
) -> pl.DataFrame:
    """The CAD export: one row per unit row, planted problems and duplicates included."""
    inc, ukind, station = rows.inc, rows.ukind, rows.station
    inc_no = _incident_numbers(incs.t0, zt)
    labels = [_unit_label(k, st, geo) for k in range(4) for st in range(_N_STATIONS)]
    df = pl.DataFrame(
        {
            "INC_NO": inc_no.gather(inc),
            "UNIT": _lookup(labels, ukind * _N_STATIONS + station),
            "UNIT_TYPE": _lookup(_UNIT_TYPE_LABELS, ukind),
            "STATION": _lookup(geo.station_ids, station),
            "NATURE": _lookup((c.name for c in CALL_TYPES), incs.ctype[inc]),
            "PRI": _lookup(("1", "2", "3"), incs.pri[inc] - 1),
            **{c: _format_local(dirty.local[c]) for c in _TIME_COLUMNS},
            "LAT": pl.Series(dirty.lat, dtype=pl.Float64, nan_to_null=True),
            "LON": pl.Series(dirty.lon, dtype=pl.Float64, nan_to_null=True),
        }
    )
    cols = []
    for c in CSV_COLUMNS:
        s = df.get_column(c)
        if dirty.str_override[c]:
            s = s.clone()
            idx = np.array(list(dirty.str_override[c].keys()), dtype=np.int64)
            s.scatter(idx, list(dirty.str_override[c].values()))
        cols.append(s)
    df = pl.DataFrame(cols)
    # Duplicates: exact copies of clean rows, a few rows after their source.
    final = np.insert(np.arange(inc.size), dirty.insert_at, dirty.dup_src)
    if dirty.dup_src.size:
        df = df[final]
    return df


def _write_csv(df: pl.DataFrame, paths: dict[str, Path]) -> None:
    """Write the CAD export and the mapping TOML that ingests it."""
    try:
        df.write_csv(paths["csv"], float_precision=6, null_value="", line_terminator="\n")
        paths["toml"].write_text(mapping_toml(), encoding="utf-8", newline="\n")
    except OSError as exc:
        raise SampleError(f"cannot write {paths['csv']}: {exc}") from exc


# ====================================================================== mapping
def _toml_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def mapping_toml() -> str:
    """The mapping TOML that ingests the sample city's CSV (also used by the benchmarks).

    Returns
    -------
    str
        TOML text of the source profile ``sample_city``: unit grain, local
        :data:`TIMEZONE` times in :data:`TIMESTAMP_FORMAT`, WGS84 ``LAT`` / ``LON``,
        the EMS / fire call types and ``max_interval_s = 21600``.
    """
    return f"""\
# Mapping for the synthetic sample city written by `dispatch sample`.
[source]
name = "sample_city"
agency = "{AGENCY}"
grain = "unit"
timezone = "{TIMEZONE}"
timestamp_format = "{TIMESTAMP_FORMAT}"
crs = "EPSG:4326"

[columns]
incident_id = "INC_NO"
unit_id = "UNIT"
unit_type = "UNIT_TYPE"
station_id = "STATION"
call_type = "NATURE"
priority = "PRI"
call_received_at = "T_RCVD"
dispatched_at = "T_DISP"
enroute_at = "T_ENRT"
on_scene_at = "T_ARRV"
transport_at = "T_TRANS"
at_hospital_at = "T_HOSP"
cleared_at = "T_CLR"
latitude = "LAT"
longitude = "LON"

[categories]
# Everything else ({", ".join(OTHER_TYPES)}) falls back to "other".
ems = {_toml_list(EMS_TYPES)}
fire = {_toml_list(FIRE_TYPES)}

[validation]
max_interval_s = {_MAX_INTERVAL_S}
# the sample plants rows for every reject reason: the strict mode shows each as a reject (the
# defaults would keep the bad-stage rows, excluding only their bad intervals, and keep the rows
# with bad coordinates as unlocated)
on_stage_error = "reject"
require_coordinates = true
"""
