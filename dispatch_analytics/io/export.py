"""Writing results as files that GIS tools and spreadsheets open, and reading them back.

Every analysis that hands a layer to planners (zones with metrics, coverage cells, performance
gaps, hotspots) writes it through :func:`write_export`: a GeoDataFrame (or a plain frame) and an
:class:`ExportMeta` (title, date range, profile, agency, a definition per column) become one of

========== ============================ ==================================================
format     file                         where the metadata goes
========== ============================ ==================================================
gpkg       ``.gpkg``                    inside: GeoPackage metadata (``gpkg_metadata``),
                                        the layer description and per-column titles and
                                        descriptions (``gpkg_data_columns``)
geojson    ``.geojson`` / ``.json``     sidecar ``<stem>.metadata.json``
shp        ``.shp`` (a set of sibling   sidecars ``<stem>.metadata.json`` and
           files) or ``.zip`` (the same ``<stem>.names.csv`` (short name -> column),
           files zipped)                inside the zip for ``.zip``
geoparquet ``.parquet`` / ``.geoparquet`` inside: Parquet key ``dispatch_analytics`` and a
                                        ``description`` on every field
csv        ``.csv`` (geometry as WKT in sidecars ``<stem>.csvt`` (types, GDAL's),
           the first column ``WKT``)    ``<stem>.prj`` (CRS) and ``<stem>.metadata.json``
xlsx       ``.xlsx``                    a README sheet; geometry as WKT in a ``geometry``
                                        sheet; a ``metadata`` sheet of key / value rows
========== ============================ ==================================================

Column values are machine values everywhere: seconds as numbers, shares as fractions 0-1,
counts as integers, text as text; human labels (``fmt.LABELS``) and units are metadata.
Shapefile columns get deterministic short names (:func:`short_names`, at most 10 characters,
unique ignoring case); every other format keeps the full names. :func:`read_export` reads any
of the six back into a GeoDataFrame with the full names (the tests' round trip).

Layer 1: takes frames and metadata and never opens the store. Heavy libraries are imported
inside the functions that need them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExportError
from .export_meta import (
    SHORT_NAME_LEN,
    ColumnInfo,
    ExportMeta,
    ExportResult,
    _is_geo,
    column_type,
    column_unit,
    crs_label,
    metadata_document,
    short_names,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "DEFAULT_CRS",
    "EXTENSIONS",
    "FORMATS",
    "METADATA_KEY",
    "SHORT_NAME_LEN",
    "ColumnInfo",
    "ExportMeta",
    "ExportResult",
    "check_output",
    "check_writable",
    "column_type",
    "column_unit",
    "crs_label",
    "format_for_path",
    "read_export",
    "read_export_metadata",
    "short_names",
    "write_export",
]

#: The export formats, in the order the docs list them.
FORMATS: tuple[str, ...] = ("gpkg", "geojson", "shp", "geoparquet", "csv", "xlsx")
#: File extensions each format accepts (the first is the usual one).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "gpkg": (".gpkg",),
    "geojson": (".geojson", ".json"),
    "shp": (".shp", ".zip"),
    "geoparquet": (".parquet", ".geoparquet"),
    "csv": (".csv",),
    "xlsx": (".xlsx",),
}
#: Formats that need a geometry column.
_GEO_ONLY = ("geojson", "shp", "geoparquet")
#: Formats whose metadata goes to a ``<stem>.metadata.json`` sidecar.
SIDECAR_FORMATS = ("geojson", "shp", "csv")
DEFAULT_CRS = "EPSG:4326"
#: Key of the metadata in GeoParquet files and prefix of GeoPackage metadata items.
METADATA_KEY = "dispatch_analytics"


# ============================================================================== validation
def format_for_path(path: str | os.PathLike) -> str | None:
    """The format an output path's extension implies (``x.shp.zip`` -> shp), or None."""
    name = Path(path).name.lower()
    for f, exts in EXTENSIONS.items():
        if any(name.endswith(e) for e in exts):
            return f
    return None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".shp.zip", *[e for exts in EXTENSIONS.values() for e in exts]):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def _check_format(path: Path, format: str | None, problems: list[str]) -> str | None:
    implied = format_for_path(path)
    if format is None:
        if implied is None:
            problems.append(
                f"`--out` {path.name!r} has no known extension and no `--format` was given; "
                f"use one of {', '.join(FORMATS)} (extensions: {_ext_listing()})"
            )
        return implied
    f = str(format).lower().lstrip(".")
    if f not in FORMATS:
        problems.append(f"`--format` {format!r} is unknown; use one of {', '.join(FORMATS)}")
        return None
    if implied != f:
        problems.append(
            f"`--out` {path.name!r} does not match `--format {f}`: a {f} file ends in "
            f"{' or '.join(EXTENSIONS[f])}; rename it to {_stem(path)}{EXTENSIONS[f][0]} or "
            f"pass `--format {implied}`"
            if implied
            else f"`--out` {path.name!r} does not match `--format {f}`: a {f} file ends in "
            f"{' or '.join(EXTENSIONS[f])}; rename it to {_stem(path)}{EXTENSIONS[f][0]}"
        )
    return f


def _ext_listing() -> str:
    return ", ".join(f"{f} {'/'.join(e)}" for f, e in EXTENSIONS.items())


def check_writable(path: Path, problems: list[str], arg: str = "--out") -> None:
    """Append a problem when ``path`` cannot be written (missing folder, a file in the way,
    no permission)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        problems.append(f"`{arg}` {str(path)!r} is a folder; give a file name inside it")
    elif not parent.exists():
        problems.append(
            f"`{arg}` {str(path)!r}: the folder {str(parent)!r} does not exist; create it "
            "(mkdir -p) or choose another path"
        )
    elif not parent.is_dir():
        problems.append(
            f"`{arg}` {str(path)!r}: {str(parent)!r} is a file, not a folder; choose another path"
        )
    elif not os.access(parent, os.W_OK | os.X_OK):
        problems.append(
            f"`{arg}` {str(path)!r}: no permission to write in {str(parent)!r}; choose "
            "another folder"
        )


def _normalise_frame(frame: Any):
    """A pandas / GeoPandas frame from a polars, pandas or GeoPandas one."""
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return frame
    if hasattr(frame, "to_pandas"):
        return frame.to_pandas()
    raise ExportError(f"expected a (Geo)DataFrame to export, got {type(frame).__name__}")


def _check_frame(frame, f: str | None, meta: ExportMeta | None, problems: list[str]) -> None:
    if len(frame) == 0:
        problems.append(
            f"nothing to export: the {meta.kind if meta else 'frame'} layer has no rows; "
            "check the layer and the date range"
        )
    geo = _is_geo(frame)
    if f in _GEO_ONLY and not geo:
        problems.append(
            f"`--format {f}` needs a geometry column and this frame has none; use csv, xlsx "
            "or gpkg for a plain table"
        )
    if geo and frame.crs is None:
        problems.append("the frame's geometry has no CRS; set one (gdf.set_crs) before export")
    attrs = [c for c in frame.columns if not (geo and c == frame._geometry_column_name)]
    dup = sorted({c for c in attrs if list(map(str.lower, map(str, attrs))).count(c.lower()) > 1})
    if dup:
        problems.append(f"duplicate column names {dup}; rename them before export")
    if meta is not None:
        undefined = [c for c in attrs if not getattr(meta.column(c), "definition", "")]
        if undefined:
            problems.append(
                f"column(s) {', '.join(undefined)} have no definition in the metadata; add a "
                "ColumnInfo for each to ExportMeta.columns"
            )


def _check_crs(crs: Any, problems: list[str]):
    if crs is None:
        return None
    import pyproj

    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        problems.append(
            f"`--crs` {crs!r} is not a coordinate reference system pyproj knows ({exc}); "
            "give an EPSG code such as EPSG:4326 or EPSG:2227"
        )
        return None


def check_output(path: str | os.PathLike, format: str | None = None, crs: Any = None) -> str:
    """Check an output path, format and CRS before any work is done.

    Parameters
    ----------
    path : path
    format : str, optional
        Default: from the extension.
    crs : str, optional

    Returns
    -------
    str
        The format.

    Raises
    ------
    ExportError
        Every problem (unknown format, extension mismatch, unwritable path, bad CRS).
    """
    path = Path(path)
    problems: list[str] = []
    f = _check_format(path, format, problems)
    check_writable(path, problems)
    _check_crs(crs, problems)
    if problems:
        raise ExportError(problems, f"cannot export to {path}")
    assert f is not None
    return f


# ================================================================================ writing
# Long: a long numpydoc docstring; the body is validate -> stage -> write -> publish.
def write_export(
    frame: Any,
    path: str | os.PathLike,
    format: str | None = None,
    meta: ExportMeta | None = None,
    crs: Any = None,
    layer: str | None = None,
) -> ExportResult:
    """Write ``frame`` as a GIS / spreadsheet file with its metadata.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame, pandas.DataFrame or polars.DataFrame
        One row per feature; a plain frame only for gpkg, csv and xlsx.
    path : path
        The output file; its folder must exist. An existing file is replaced (atomically:
        everything is written to a temporary folder beside it first).
    format : str, optional
        One of :data:`FORMATS`; default: from the extension. Must agree with the extension.
    meta : ExportMeta, optional
        Title, date range, profile, agency, a definition per column. When given, every column
        must have a definition.
    crs : str or pyproj.CRS, optional
        Reproject to this CRS (e.g. ``EPSG:2227``, a state plane); default: the frame's own
        (EPSG:4326 for the library's layers).
    layer : str, optional
        GeoPackage layer / sheet name (default ``meta.kind``, else the file stem).

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        Every problem found (unknown format, extension mismatch, unwritable path, no rows,
        no geometry for a geometry format, bad CRS, undocumented column), in one message.
    """
    from . import export_writers as writers

    path = Path(path)
    frame = _normalise_frame(frame)
    problems: list[str] = []
    f = _check_format(path, format, problems)
    check_writable(path, problems)
    _check_frame(frame, f, meta, problems)
    target = _check_crs(crs, problems) if _is_geo(frame) else None
    if crs is not None and not _is_geo(frame):
        problems.append("`--crs` needs a frame with geometry; drop `--crs` for a plain table")
    if problems:
        raise ExportError(problems, f"cannot export to {path}")
    assert f is not None
    if target is not None:
        frame = frame.to_crs(target)
    geo = _is_geo(frame)
    gcol = frame._geometry_column_name if geo else None
    names = short_names([c for c in frame.columns if c != gcol])
    layer_name = re.sub(r"[^A-Za-z0-9_]", "_", layer or (meta.kind if meta else _stem(path)))
    doc = metadata_document(frame, meta, f, path, names)
    doc["layer"] = layer_name
    stem = _stem(path)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise ExportError(f"cannot write in {path.parent}: {exc}; choose another folder") from exc
    try:
        written = writers.WRITERS[f](frame, staging / path.name, stem, layer_name, doc, names)
        if f in SIDECAR_FORMATS:
            side = staging / f"{stem}.metadata.json"
            side.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
            written.append(side)
        if f == "shp" and path.suffix.lower() == ".zip":
            main = staging / f".{path.name}.zip"
            with zipfile.ZipFile(main, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for p in written:
                    zf.write(p, p.name)
            written = [main]
        files = _publish(staging, written, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc}; choose another path") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(
        path=path,
        format=f,
        files=files,
        crs=crs_label(frame.crs) if geo else None,
        rows=int(len(frame)),
        short_names=names,
        metadata=doc,
    )


def _publish(staging: Path, written: list[Path], path: Path) -> list[Path]:
    """Move the staged files beside ``path`` (the main file, whose name may differ in case
    or suffix from the staged one, goes to ``path`` itself)."""
    out = []
    for i, p in enumerate(written):
        dest = path if i == 0 else path.parent / p.name
        os.replace(p, dest)
        out.append(dest)
    return out


# ================================================================================ reading
def read_export_metadata(path: str | os.PathLike, format: str | None = None) -> dict[str, Any]:
    """The metadata document written with an export (from the file or its sidecar).

    Parameters
    ----------
    path : path
        A file written by :func:`write_export`.
    format : str, optional
        Default: from the extension.

    Returns
    -------
    dict
        The document of :func:`write_export` (``title, kind, columns, date_from`` ...).
    """
    from . import export_writers as writers

    path = Path(path)
    f = format or format_for_path(path)
    if f not in FORMATS:
        raise ExportError(f"{path}: unknown export format; extensions: {_ext_listing()}")
    if f == "shp" and path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(f"{_stem(path)}.metadata.json"))
    if f in SIDECAR_FORMATS:
        return json.loads((path.parent / f"{_stem(path)}.metadata.json").read_text("utf-8"))
    return writers.READ_METADATA[f](path)


def read_export(
    path: str | os.PathLike, format: str | None = None
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read an export of :func:`write_export` back, with the full column names.

    Everything goes through GeoPandas (``read_file`` / ``read_parquet``): the shapefile's short
    names are renamed back from its names table, the CSV is read with GDAL's
    ``KEEP_GEOM_COLUMNS=NO`` and ``EMPTY_STRING_AS_NULL=YES``, the workbook's geometry is
    rebuilt from its ``geometry`` sheet.

    Parameters
    ----------
    path : path
    format : str, optional
        Default: from the extension.

    Returns
    -------
    geopandas.GeoDataFrame (pandas.DataFrame for a plain table)
    """
    from . import export_writers as writers

    path = Path(path)
    f = format or format_for_path(path)
    if f not in FORMATS:
        raise ExportError(f"{path}: unknown export format; extensions: {_ext_listing()}")
    return writers.READERS[f](path, read_export_metadata(path, f))
