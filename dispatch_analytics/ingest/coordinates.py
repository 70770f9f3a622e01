"""The coordinates of a chunk: a latitude / longitude pair of columns (any CRS, reprojected to
WGS84) or one location text column ('(lat, lon)', 'lat;lon', 'POINT (lon lat)')."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import polars as pl

from .columns import null_series, raw_text, text_expr
from .profiles import SourceProfile

__all__ = ["Coordinates", "parse_coordinates"]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR_RE = rf"^\s*\(?\s*({_NUM})\s*[,;\s]\s*({_NUM})\s*\)?\s*$"
_POINT_RE = rf"(?i)^\s*POINT\s*\(\s*({_NUM})\s+({_NUM})\s*\)\s*$"


@dataclass(frozen=True)
class Coordinates:
    """The coordinates of a chunk's rows.

    ``lat`` / ``lon`` are WGS84 degrees (null where unreadable; a raw (0, 0) stays 0 so the
    zero check sees it); ``raw`` is the text as read; ``field`` names the canonical field
    the rules report ('latitude' or 'location').
    """

    lat: pl.Series
    lon: pl.Series
    raw: pl.Series
    missing: pl.Series
    unparseable: pl.Series
    field: str
    #: per row, the coordinate rule that left it unlocated (coordinates not required), or None
    flag: pl.Series | None = None


def parse_coordinates(df: pl.DataFrame, profile: SourceProfile) -> Coordinates:
    """Read the coordinates of a raw chunk as the profile maps them.

    Parameters
    ----------
    df : polars.DataFrame
        Raw rows.
    profile : SourceProfile

    Returns
    -------
    Coordinates
        All null (and nothing missing) when the profile maps no coordinates.
    """
    n = df.height
    if not profile.has_coordinates:
        nulls = null_series(n, pl.Float64())
        false = pl.repeat(False, n, eager=True)
        return Coordinates(nulls, nulls, null_series(n, pl.String()), false, false, "latitude")
    if "location" in profile.columns:
        return _from_location(df, profile)
    return _from_lat_lon(df, profile)


def _from_location(df: pl.DataFrame, profile: SourceProfile) -> Coordinates:
    raw = df.select(raw_text(profile.columns["location"])).to_series()
    pair = raw.str.extract_groups(_PAIR_RE)
    point = raw.str.extract_groups(_POINT_RE)
    a = pair.struct.field("1").cast(pl.Float64, strict=False)
    b = pair.struct.field("2").cast(pl.Float64, strict=False)
    lat, lon = (a, b) if profile.location_order == "lat,lon" else (b, a)
    lon = lon.zip_with(lon.is_not_null(), point.struct.field("1").cast(pl.Float64, strict=False))
    lat = lat.zip_with(lat.is_not_null(), point.struct.field("2").cast(pl.Float64, strict=False))
    missing = raw.is_null()
    unparseable = raw.is_not_null() & (lat.is_null() | lon.is_null())
    return Coordinates(lat, lon, raw, missing, unparseable, "location")


def _from_lat_lon(df: pl.DataFrame, profile: SourceProfile) -> Coordinates:
    raw_y = df.select(text_expr(profile, "latitude")).to_series()
    raw_x = df.select(text_expr(profile, "longitude")).to_series()
    y = raw_y.cast(pl.Float64, strict=False)
    x = raw_x.cast(pl.Float64, strict=False)
    missing = raw_y.is_null() | raw_x.is_null()
    unparseable = ~missing & (y.is_null() | x.is_null() | ~y.is_finite() | ~x.is_finite())
    raw = pl.select(pl.concat_str([raw_y, raw_x], separator=", ")).to_series()
    if not profile.is_geographic:
        y, x = _reproject(x, y, missing | unparseable, profile.crs)
    return Coordinates(y, x, raw, missing, unparseable, "latitude")


@functools.lru_cache(maxsize=16)
def _to_wgs84(crs: str):
    """A cached transformer (building one costs milliseconds; ingest asks once per chunk)."""
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _reproject(x: pl.Series, y: pl.Series, bad: pl.Series, crs: str) -> tuple[pl.Series, pl.Series]:
    """Projected x / y -> (latitude, longitude); rows that are ``bad`` or (0, 0) are not
    transformed (raw zeros stay 0, for the zero check)."""
    n = len(x)
    zero = ((x == 0) & (y == 0)).fill_null(False)
    ok = (~bad & ~zero).fill_null(False)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    m = ok.to_numpy()
    if m.any():
        lon[m], lat[m] = _to_wgs84(crs).transform(x.to_numpy()[m], y.to_numpy()[m])
    lat_s = pl.Series(lat).fill_nan(None).zip_with(~zero, pl.repeat(0.0, n, eager=True))
    lon_s = pl.Series(lon).fill_nan(None).zip_with(~zero, pl.repeat(0.0, n, eager=True))
    return lat_s, lon_s
