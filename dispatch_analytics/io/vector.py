"""Reading vector files (zones, stations) and bringing them to EPSG:4326.

:func:`read_vector` reads GeoJSON, GeoPackage, Shapefile, zipped Shapefile, GeoParquet,
FlatGeobuf, GML or KML, picking one layer of a multi-layer source; :func:`apply_crs` gives the
frame its coordinate reference system and reprojects it to longitude / latitude, collecting
problems instead of raising so that callers can report every problem of a file at once.

Heavy libraries (geopandas, pyogrio, pyproj) are imported inside the functions that need them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IngestError, ZoneError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pyproj

__all__ = [
    "GEOPARQUET_SUFFIXES",
    "VECTOR_SUFFIXES",
    "apply_crs",
    "crs_label",
    "read_vector",
]

#: Suffixes of the vector datasets looked for inside a ``.zip``.
VECTOR_SUFFIXES: tuple[str, ...] = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml")

#: Suffixes read as GeoParquet (with geopandas rather than GDAL).
GEOPARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".geoparquet", ".pq")


def _pick(options: Sequence[str], wanted: str | None, noun: str, path) -> str:
    """``wanted`` if it is one of ``options``, else the only option; ZoneError otherwise."""
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


def _read_geoparquet(p: Path, path) -> gpd.GeoDataFrame:
    import geopandas as gpd

    try:
        return gpd.read_parquet(p)
    except Exception as exc:
        raise IngestError(
            f"cannot read {path} as GeoParquet ({exc}); write it with geopandas `to_parquet`"
        ) from exc


def _zip_source(p: Path, path, source_layer: str | None) -> tuple[str, str | None]:
    """The ``/vsizip/`` path of the dataset to read in a zip, and the layer still to pick."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as zf:
            members = [
                m
                for m in zf.namelist()
                if m.lower().endswith(VECTOR_SUFFIXES) and "__MACOSX" not in m
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
    return f"/vsizip/{p.resolve()}/{member}", source_layer


def read_vector(path: str | os.PathLike, source_layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file: GeoJSON, GeoPackage, Shapefile, zipped Shapefile or GeoParquet.

    Any format GDAL reads works (FlatGeobuf, GML, KML...); GDAL virtual paths (``/vsi...``,
    ``zip://...``) are passed to it as they are.

    Parameters
    ----------
    path : path
        The file. A ``.zip`` is read through GDAL's ``/vsizip/`` (the zip may hold the
        Shapefile in a sub-folder; several datasets in it are chosen by ``source_layer``,
        the dataset's file name without suffix). ``.parquet``, ``.geoparquet`` and ``.pq``
        are read as GeoParquet.
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

    Examples
    --------
    >>> gdf = read_vector("zones.gpkg", source_layer="demand_zones")  # doctest: +SKIP
    """
    import pyogrio

    text = str(path)
    direct = text.startswith(("/vsi", "zip://"))
    p = Path(text)
    if not direct and not p.is_file():
        raise IngestError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix in GEOPARQUET_SUFFIXES:
        return _read_geoparquet(p, path)
    src = text
    if suffix == ".zip" and not direct:
        src, source_layer = _zip_source(p, path, source_layer)
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


def crs_label(crs: pyproj.CRS) -> str:
    """A short name of a CRS: its authority code (``"EPSG:2227"``) when known, else its name.

    Parameters
    ----------
    crs : pyproj.CRS
        The coordinate reference system.

    Returns
    -------
    str
        ``"AUTHORITY:CODE"`` when pyproj matches an authority code with at least 90 %
        confidence, else the CRS's name (or its PROJ string when it has none).
    """
    auth = crs.to_authority(min_confidence=90)
    if auth:
        return ":".join(auth)
    return crs.name or crs.to_string()


def _in_lonlat_range(gdf: gpd.GeoDataFrame) -> bool:
    """Whether the non-empty geometries of ``gdf`` lie within longitude / latitude bounds."""
    geo = gdf.geometry[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if not len(geo):
        return True
    x0, y0, x1, y1 = geo.total_bounds
    return bool(
        np.isfinite([x0, y0, x1, y1]).all()
        and -180.000001 <= x0
        and x1 <= 180.000001
        and -90.000001 <= y0
        and y1 <= 90.000001
    )


def apply_crs(
    gdf: gpd.GeoDataFrame,
    crs: str | None,
    path: str | os.PathLike,
    problems: list[str],
    *,
    stacklevel: int = 1,
) -> tuple[gpd.GeoDataFrame | None, str]:
    """Give ``gdf`` its CRS (``crs`` overrides the file's) and reproject it to EPSG:4326.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The frame as read (:func:`read_vector`); its CRS may be None.
    crs : str, optional
        The CRS of the coordinates (anything ``pyproj.CRS.from_user_input`` accepts, e.g.
        ``"EPSG:2227"``): required when ``gdf`` has none, overrides its CRS when given.
    path : path
        The source, named in messages.
    problems : list of str
        Problems found are appended here (an unknown ``crs``, no CRS at all, a failed
        reprojection, coordinates outside longitude / latitude range afterwards).
    stacklevel : int
        Where the warning points, as in ``warnings.warn`` but counted from the caller of
        this function (1: the caller, 2: the caller's caller...).

    Returns
    -------
    (geopandas.GeoDataFrame or None, str)
        The frame in EPSG:4326 (None when a problem was found) and the label of the CRS the
        coordinates were read in (:func:`crs_label`; ``"none"`` when there is none).

    Warns
    -----
    UserWarning
        When ``crs`` overrides a different CRS declared by the file.
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
                f"{path} declares CRS {crs_label(gdf.crs)}; reading it as {crs} (`crs` given)",
                UserWarning,
                stacklevel=stacklevel + 1,
            )
        gdf = gdf.set_crs(user, allow_override=True)
    elif gdf.crs is None:
        problems.append(
            f"`crs`: {path} has no CRS; pass --crs EPSG:XXXX (the coordinate "
            "system its coordinates are in)"
        )
        return None, "none"
    label = crs_label(gdf.crs)
    try:
        out = gdf.to_crs("EPSG:4326")
    except Exception as exc:
        problems.append(f"cannot reproject {path} from {label} to EPSG:4326: {exc}")
        return None, label
    if not _in_lonlat_range(out):
        problems.append(
            f"coordinates of {path} read in {label} fall outside longitude/"
            "latitude range after reprojection; is that its CRS? pass "
            "--crs EPSG:XXXX"
        )
        return None, label
    return out, label
