"""One writer and one reader per export format (used by :mod:`.export`; not public).

Each writer takes the frame (already reprojected), the destination of the main file inside a
staging folder, the file stem, the layer name, the metadata document and the short names, and
returns the files it wrote, the main file first. The folder is published by
:func:`~dispatch_analytics.io.export.write_export`.

Layer 1. Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import dispatch_analytics.fmt as fmt  # `from .. import fmt` would import the facade

__all__ = ["WRITERS", "READERS", "READ_METADATA", "XLSX_CELL_MAX"]

METADATA_KEY = "dispatch_analytics"
#: Excel holds at most 32,767 characters in a cell; WKT and JSON are split below that.
XLSX_CELL_MAX = 32_000


def _geo(frame) -> bool:
    import geopandas as gpd

    return isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _chunks(text: str, size: int = XLSX_CELL_MAX) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# =================================================================================== gpkg
def _gpkg_data_columns(dest: Path, layer: str, columns: list[dict]) -> None:
    """Per-column titles and descriptions in ``gpkg_data_columns`` (the GeoPackage schema
    extension), which GDAL reads as field alternative names and comments and QGIS shows as
    aliases. Written with sqlite3: pyogrio 0.13 has no way to set field alternative names or
    comments (GDAL's ``OGRFieldDefn::SetAlternativeName`` / ``SetComment``)."""
    import sqlite3

    con = sqlite3.connect(dest)
    try:
        with con:
            con.execute(
                "create table if not exists gpkg_data_columns (table_name text not null, "
                "column_name text not null, name text, title text, description text, "
                "mime_type text, constraint_name text, "
                "constraint pk_gdc primary key (table_name, column_name), "
                "constraint gdc_tn unique (table_name, name))"
            )
            con.execute(
                "create table if not exists gpkg_data_column_constraints (constraint_name "
                "text not null, constraint_type text not null, value text, min numeric, "
                "min_is_inclusive boolean, max numeric, max_is_inclusive boolean, "
                "description text, "
                "constraint gdcc_ntv unique (constraint_name, constraint_type, value))"
            )
            for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
                con.execute(
                    "insert into gpkg_extensions (table_name, column_name, extension_name, "
                    "definition, scope) values (?, null, 'gpkg_schema', "
                    "'http://www.geopackage.org/spec/#extension_schema', 'read-write')",
                    (table,),
                )
            con.executemany(
                "insert or replace into gpkg_data_columns "
                "(table_name, column_name, name, title, description) values (?, ?, ?, ?, ?)",
                [
                    (
                        layer,
                        c["name"],
                        c["name"],
                        c["label"],
                        c["definition"] + (f" ({c['unit']})" if c["unit"] else ""),
                    )
                    for c in columns
                ],
            )
    finally:
        con.close()


def write_gpkg(frame, dest: Path, stem, layer, doc, names) -> list[Path]:
    import pyogrio

    md = {f"{METADATA_KEY}.{k}": _text(v) for k, v in doc.items() if k != "columns" and v}
    md[METADATA_KEY] = json.dumps(doc, default=str)
    period = f", {doc['date_from']} to {doc['date_to']}" if doc.get("date_from") else ""
    pyogrio.write_dataframe(
        frame,
        dest,
        layer=layer,
        driver="GPKG",
        layer_options={"IDENTIFIER": doc["title"], "DESCRIPTION": doc["title"] + period},
        layer_metadata=md,
    )
    _gpkg_data_columns(dest, layer, doc["columns"])
    return [dest]


def read_gpkg(path: Path, doc: dict):
    import geopandas as gpd

    return gpd.read_file(path, layer=doc.get("layer"))


def gpkg_metadata(path: Path) -> dict:
    import pyogrio

    layers = pyogrio.list_layers(path)
    info = pyogrio.read_info(path, layer=layers[0][0])
    return json.loads((info.get("layer_metadata") or {})[METADATA_KEY])


# ================================================================================ geojson
def write_geojson(frame, dest: Path, stem, layer, doc, names) -> list[Path]:
    import pyogrio

    pyogrio.write_dataframe(frame, dest, layer=layer, driver="GeoJSON")
    return [dest]


def read_plain(path: Path, doc: dict):
    import geopandas as gpd

    return gpd.read_file(path)


# ==================================================================================== shp
def _shp_frame(frame, names: dict[str, str]):
    """Short names; booleans as 0 / 1 and datetimes as ISO text (dBASE has neither)."""
    import pandas as pd

    out = frame.copy()
    for c in out.columns:
        if c == out._geometry_column_name:
            continue
        if pd.api.types.is_bool_dtype(out[c].dtype):
            out[c] = out[c].astype("Int64")
        elif pd.api.types.is_datetime64_any_dtype(out[c].dtype):
            out[c] = out[c].map(lambda v: None if pd.isna(v) else v.isoformat())
    return out.rename(columns=names)


def write_names_csv(dest: Path, doc: dict) -> Path:
    """The short-name table: ``short_name, name, label, unit, type, definition``."""
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["short_name", "name", "label", "unit", "type", "definition"])
        for c in doc["columns"]:
            w.writerow(
                [c["short_name"], c["name"], c["label"], c["unit"], c["type"], c["definition"]]
            )
    return dest


def write_shp(frame, dest: Path, stem, layer, doc, names) -> list[Path]:
    import pyogrio

    folder = dest.parent
    shp = folder / f"{stem}.shp"
    pyogrio.write_dataframe(
        _shp_frame(frame, names), shp, driver="ESRI Shapefile", encoding="UTF-8"
    )
    files = [shp] + [
        folder / f"{stem}{ext}"
        for ext in (".shx", ".dbf", ".prj", ".cpg")
        if (folder / f"{stem}{ext}").exists()
    ]
    files.append(write_names_csv(folder / f"{stem}.names.csv", doc))
    return files


def read_shp(path: Path, doc: dict):
    import geopandas as gpd

    back = {c["short_name"]: c["name"] for c in doc["columns"]}
    return gpd.read_file(path).rename(columns=back)


# ============================================================================= geoparquet
def write_geoparquet(frame, dest: Path, stem, layer, doc, names) -> list[Path]:
    """GeoParquet through geopandas, then the metadata added to the schema: the document
    under key ``dispatch_analytics`` and a ``description`` on every field."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = dest.with_name(dest.name + ".part")
    frame.to_parquet(tmp, index=False)
    table = pq.read_table(tmp)
    desc = {c["name"]: c for c in doc["columns"]}
    fields = []
    for f in table.schema:
        c = desc.get(f.name)
        if c is not None:
            md = dict(f.metadata or {})
            md[b"description"] = c["definition"].encode()
            md[b"label"] = c["label"].encode()
            if c["unit"]:
                md[b"unit"] = c["unit"].encode()
            f = f.with_metadata(md)
        fields.append(f)
    md = dict(table.schema.metadata or {})
    md[METADATA_KEY.encode()] = json.dumps(doc, default=str).encode()
    schema = pa.schema(fields, metadata=md)
    pq.write_table(pa.Table.from_arrays(table.columns, schema=schema), dest)
    tmp.unlink()
    return [dest]


def read_geoparquet(path: Path, doc: dict):
    import geopandas as gpd

    return gpd.read_parquet(path)


def geoparquet_metadata(path: Path) -> dict:
    import pyarrow.parquet as pq

    return json.loads((pq.read_schema(path).metadata or {})[METADATA_KEY.encode()])


# ==================================================================================== csv
def write_csv(frame, dest: Path, stem, layer, doc, names) -> list[Path]:
    """GDAL's CSV driver: geometry as WKT in the first column ``WKT``, a ``.csvt`` with the
    column types and a ``.prj`` with the CRS (both read back by GDAL)."""
    import pyogrio

    opts = {"CREATE_CSVT": "YES"}
    if _geo(frame):
        opts["GEOMETRY"] = "AS_WKT"
    pyogrio.write_dataframe(frame, dest, layer=layer, driver="CSV", layer_options=opts)
    folder = dest.parent
    return [dest] + [
        folder / f"{stem}{ext}" for ext in (".csvt", ".prj") if (folder / f"{stem}{ext}").exists()
    ]


def read_csv(path: Path, doc: dict):
    import geopandas as gpd

    return gpd.read_file(path, KEEP_GEOM_COLUMNS="NO", EMPTY_STRING_AS_NULL="YES")


# =================================================================================== xlsx
def _cell(v: Any) -> Any:
    import pandas as pd

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


# Long: one sheet after another (data, geometry, README, metadata); splitting it scatters
# the workbook's layout over helpers that each need the workbook and its formats.
def _xlsx_data_sheet(wb, frame, layer, cols, info, bold) -> None:
    """The machine-value sheet: one row per feature, a comment with each column's definition."""
    number_formats = {
        "fraction 0-1": wb.add_format({"num_format": "0.0%"}),
        "seconds": wb.add_format({"num_format": "0.0"}),
        "count": wb.add_format({"num_format": "#,##0"}),
    }
    ws = wb.add_worksheet(layer[:31])
    for j, c in enumerate(cols):
        ws.write_string(0, j, c, bold)
        ws.write_comment(0, j, f"{info[c]['label']}: {info[c]['definition']}"[:30000])
        ws.set_column(j, j, max(10, min(40, len(c) + 2)), number_formats.get(info[c]["unit"]))
    for i, row in enumerate(frame[cols].itertuples(index=False), start=1):
        for j, v in enumerate(row):
            v = _cell(v)
            if v is not None:
                ws.write(i, j, v)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(frame), max(len(cols) - 1, 0))


def _xlsx_geometry_sheet(wb, frame, bold) -> None:
    """WKT of each feature, split in parts that fit an Excel cell."""
    import shapely

    gs = wb.add_worksheet("geometry")
    gs.write_row(0, 0, ["feature", "part", "wkt"], bold)
    r = 1
    wkts = shapely.to_wkt(frame.geometry.values, rounding_precision=-1, trim=True)
    for k, w in enumerate(wkts, start=1):
        for part, chunk in enumerate(_chunks(w or ""), start=1):
            gs.write_row(r, 0, [k, part])
            gs.write_string(r, 2, chunk)
            r += 1


def _xlsx_readme_sheet(wb, doc, layer, geo, bold) -> None:
    """What the file holds, for people: period, profile, agency, and every column's definition."""
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    rs = wb.add_worksheet("README")
    rs.set_column(0, 0, 22)
    rs.set_column(1, 1, 28)
    rs.set_column(4, 4, 90)
    rs.write(0, 0, doc["title"], wb.add_format({"bold": True, "font_size": 14}))
    items: list[tuple[str, Any]] = [
        ("period", f"{doc.get('date_from') or '?'} to {doc.get('date_to') or '?'}"),
        ("profile", doc.get("profile") or fmt.MISSING),
        ("agency", doc.get("agency") or "all agencies in the store"),
        *(
            (f"incidents, {a['agency']}", a["incidents"])
            for a in (doc.get("agencies") or [])
            if len(doc.get("agencies") or []) > 1
        ),
        ("generated at (UTC)", doc["generated_at"]),
        ("tool", f"{doc['tool']} {doc['tool_version']}"),
        ("rows", doc["rows"]),
        ("sheet", f"{layer[:31]}: one row per feature, machine values"),
    ]
    if geo:
        g = doc["geometry"]
        items.append(
            (
                "geometry",
                f"sheet 'geometry': WKT in {g['crs']} ({g['crs_name']}), "
                "split in parts of 32,000 characters: join the parts of each feature",
            )
        )
    items += [(k, _text(v)) for k, v in doc.get("details", {}).items()]
    items += [("note", n) for n in doc.get("notes", [])]
    r = 2
    for key, val in items:
        rs.write_string(r, 0, key, bold)
        rs.write(r, 1, val)
        r += 1
    r += 1
    rs.write_row(r, 0, ["column", "label", "unit", "type", "definition"], bold)
    for c in doc["columns"]:
        r += 1
        rs.write_row(r, 0, [c["name"], c["label"], c["unit"], c["type"]])
        rs.write_string(r, 4, c["definition"], wrap)


def _xlsx_metadata_sheet(wb, doc, bold) -> None:
    """The metadata document as JSON (hidden), in parts that fit an Excel cell."""
    ms = wb.add_worksheet("metadata")
    ms.write_row(0, 0, ["key", "part", "value"], bold)
    r = 1
    for k, v in doc.items():
        for part, chunk in enumerate(_chunks(json.dumps(v, default=str)), start=1):
            ms.write_row(r, 0, [k, part])
            ms.write_string(r, 2, chunk)
            r += 1
    ms.hide()


def write_xlsx(frame, dest: Path, stem, layer, doc, names) -> list[Path]:
    import xlsxwriter

    geo = _geo(frame)
    gcol = frame._geometry_column_name if geo else None
    cols = [c for c in frame.columns if c != gcol]
    info = {c["name"]: c for c in doc["columns"]}
    wb = xlsxwriter.Workbook(dest, {"nan_inf_to_errors": False})
    bold = wb.add_format({"bold": True})
    _xlsx_data_sheet(wb, frame, layer, cols, info, bold)
    if geo:
        _xlsx_geometry_sheet(wb, frame, bold)
    _xlsx_readme_sheet(wb, doc, layer, geo, bold)
    _xlsx_metadata_sheet(wb, doc, bold)
    wb.close()
    return [dest]


def xlsx_metadata(path: Path) -> dict:
    import geopandas as gpd

    rows = gpd.read_file(path, layer="metadata")
    doc: dict[str, str] = {}
    for key, value in zip(rows["key"], rows["value"], strict=True):
        doc[key] = doc.get(key, "") + (value or "")
    return {k: json.loads(v) for k, v in doc.items()}


def read_xlsx(path: Path, doc: dict):
    import geopandas as gpd
    import pandas as pd

    data = gpd.read_file(path, layer=doc["layer"][:31])
    # Excel numbers have no integer / real distinction: GDAL reads a real column whose
    # values are all whole as integers; the metadata has the types
    reals = [c["name"] for c in doc["columns"] if c["type"] == "real" and c["name"] in data]
    data = data.astype({c: float for c in reals})
    if not doc.get("geometry"):
        return data
    parts = gpd.read_file(path, layer="geometry")
    parts = parts.sort_values(["feature", "part"])
    wkt = parts.groupby("feature", sort=True)["wkt"].agg(lambda s: "".join(s.fillna("")))
    g = doc["geometry"]
    crs = g["crs"] if str(g.get("crs")).startswith("EPSG:") else g.get("crs_wkt") or g["crs"]
    geom = gpd.GeoSeries.from_wkt(pd.Series(wkt.values).replace("", None).values, crs=crs)
    return gpd.GeoDataFrame(data, geometry=geom.values, crs=crs)


WRITERS = {
    "gpkg": write_gpkg,
    "geojson": write_geojson,
    "shp": write_shp,
    "geoparquet": write_geoparquet,
    "csv": write_csv,
    "xlsx": write_xlsx,
}
READERS = {
    "gpkg": read_gpkg,
    "geojson": read_plain,
    "shp": read_shp,
    "geoparquet": read_geoparquet,
    "csv": read_csv,
    "xlsx": read_xlsx,
}
READ_METADATA = {"gpkg": gpkg_metadata, "geoparquet": geoparquet_metadata, "xlsx": xlsx_metadata}
