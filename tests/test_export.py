"""GIS exports: the six formats read back with GeoPandas, short names, metadata, CRS, errors;
the zone-metrics layer against an independent computation; ``dispatch export`` end to end on
the real SFFD week and the 41 SF neighbourhoods.

Read-backs use GeoPandas directly (``geopandas.read_file`` / ``read_parquet``), not the
library's own reader, except where the test is about that reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import sqlite3
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import SF_STATIONS_LOAD, UNIT_HEADER, UNIT_TOML, unit_row, write_csv, write_toml
from hypothesis import given
from hypothesis import strategies as st

from dispatch_analytics import Store
from dispatch_analytics.analysis.zone_metrics import ZoneMetrics
from dispatch_analytics.cli import main
from dispatch_analytics.errors import AgencyError, ExportError, MetricError, ZoneError
from dispatch_analytics.io import export as ex
from dispatch_analytics.io.export import (
    ColumnInfo,
    ExportMeta,
    read_export,
    read_export_metadata,
    short_names,
    write_export,
)

ROOT = Path(__file__).resolve().parents[1]
SF_WEEK = ROOT / "sample_data" / "sf_week"
SF_CSV = SF_WEEK / "sffd_calls_2016-12-31_2017-01-07.csv"
NHOODS = SF_WEEK / "sf_analysis_neighborhoods.geojson"
STATIONS = SF_WEEK / "sf_fire_stations.geojson"
EXT = {
    "gpkg": "gpkg",
    "geojson": "geojson",
    "shp": "shp",
    "geoparquet": "parquet",
    "csv": "csv",
    "xlsx": "xlsx",
}


# ============================================================================ helpers
def tiny_frame() -> gpd.GeoDataFrame:
    """Three features: a square, a square with a hole, a two-part multipolygon; ints, floats
    with a missing value, text with a missing value, a share, a long name."""
    hole = shapely.Polygon(
        [(1, 0), (2, 0), (2, 1), (1, 1)], [[(1.25, 0.25), (1.75, 0.25), (1.75, 0.75), (1.25, 0.75)]]
    )
    multi = shapely.MultiPolygon([shapely.box(3, 0, 4, 1), shapely.box(5, 0, 6.123456789012, 1)])
    return gpd.GeoDataFrame(
        {
            "zone_id": ["a", "b", "c"],
            "n": [12, 0, 1],
            "p90_s": [301.5, np.nan, 12.0],
            "compliance": [0.8536585365853658, np.nan, 1.0],
            "flag": [None, "no_data", "small_sample"],
            "density_class": ["urban", None, "rural"],
        },
        geometry=[shapely.box(0, 0, 1, 1), hole, multi],
        crs="EPSG:4326",
    )


def tiny_meta(frame) -> ExportMeta:
    return ExportMeta(
        title="Tiny test layer",
        kind="zones",
        columns=[ColumnInfo(c, f"definition of {c}") for c in frame.columns if c != "geometry"],
        date_from="2024-01-01",
        date_to="2024-01-31",
        profile="nfpa1710",
        details={"layer": "tiny", "metric": "travel"},
        notes=["a note"],
    )


def raw_read(path: Path, fmt: str) -> gpd.GeoDataFrame:
    """Read an export with GeoPandas alone (the short names undone with the names table read
    by the csv module; the workbook's geometry joined from its sheet)."""
    if fmt == "geoparquet":
        return gpd.read_parquet(path)
    if fmt == "csv":
        return gpd.read_file(path, KEEP_GEOM_COLUMNS="NO", EMPTY_STRING_AS_NULL="YES")
    if fmt == "shp":
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                text = zf.read(f"{path.stem}.names.csv").decode()
        else:
            text = path.with_name(f"{path.stem}.names.csv").read_text()
        names = {r["short_name"]: r["name"] for r in csv.DictReader(text.splitlines())}
        return gpd.read_file(path).rename(columns=names)
    if fmt == "xlsx":
        data = gpd.read_file(path, layer="zones")
        parts = gpd.read_file(path, layer="geometry").sort_values(["feature", "part"])
        wkt = parts.groupby("feature")["wkt"].agg("".join)
        # Excel numbers have no integer / real distinction: GDAL reads whole-valued real
        # columns as integers; the column types are in the metadata
        types = {c["name"]: c["type"] for c in read_export_metadata(path)["columns"]}
        data = data.astype({c: float for c, t in types.items() if t == "real"})
        return gpd.GeoDataFrame(
            data, geometry=gpd.GeoSeries.from_wkt(wkt.values).values, crs="EPSG:4326"
        )
    return gpd.read_file(path)


def assert_same(back: gpd.GeoDataFrame, orig: gpd.GeoDataFrame, tol: float = 1e-9) -> None:
    """Same columns in order, same values (text, integers exactly; reals to 1e-12 relative:
    shapefile and CSV keep 15 significant digits), same geometry (to ``tol``), same CRS."""
    cols = [c for c in orig.columns if c != "geometry"]
    assert [c for c in back.columns if c != back.geometry.name] == cols
    assert back.crs == orig.crs, (back.crs, orig.crs)
    for c in cols:
        a, b = back[c].tolist(), orig[c].tolist()
        kind = ex.column_type(orig[c].dtype)
        if kind == "integer":
            assert pd.api.types.is_integer_dtype(back[c].dtype), (c, back[c].dtype)
            assert a == b, c
        elif kind == "real":
            assert pd.api.types.is_float_dtype(back[c].dtype), (c, back[c].dtype)
            for x, y in zip(a, b, strict=True):
                assert (pd.isna(x) and pd.isna(y)) or math.isclose(x, y, rel_tol=1e-12), (c, x, y)
        else:
            norm = [None if pd.isna(v) else v for v in a]
            assert norm == [None if pd.isna(v) else v for v in b], c
    for g1, g2 in zip(back.geometry, orig.geometry, strict=True):
        # a Polygon may come back as a one-part MultiPolygon (GDAL promotes mixed layers)
        assert g1.hausdorff_distance(g2) <= tol, (g1.wkt[:80], g2.wkt[:80])
        assert math.isclose(g1.area, g2.area, rel_tol=1e-9)


# ====================================================================== short names
def test_short_names_rule():
    names = short_names(
        [
            "zone_id",
            "density_class",
            "density_classes",
            "p90_s",
            "Compliance",
            "compliance",
            "2nd value",
            "incidents_outside_layer",
        ]
    )
    assert names == {
        "zone_id": "zone_id",
        "density_class": "density_cl",
        "density_classes": "density__2",
        "p90_s": "p90_s",
        "Compliance": "Compliance",
        "compliance": "complian_2",
        "2nd value": "f_2nd_valu",
        "incidents_outside_layer": "incidents",
    }


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=40, unique=True))
def test_short_names_unique_short_deterministic(cols):
    a = short_names(cols)
    assert list(a) == cols
    assert all(1 <= len(s) <= 10 and s[0].isalpha() for s in a.values())
    assert all(ch.isalnum() and ch.isascii() or ch == "_" for s in a.values() for ch in s)
    assert len({s.lower() for s in a.values()}) == len(cols)
    assert short_names(cols) == a


def test_short_names_of_the_zone_layer_are_documented():
    """The table in docs/exports.md is what the code does."""
    cols = [c.name for c in _zone_columns()]
    doc = (ROOT / "docs" / "exports.md").read_text()
    for c, s in short_names(cols).items():
        assert f"| `{c}` | `{s}` |" in doc, (c, s)


def _zone_columns():
    from dispatch_analytics.analysis.zone_metrics import zone_columns
    from dispatch_analytics.metrics.fractiles import Fractiles

    fr = Fractiles(
        table=None,
        metric="travel",
        level="incident",
        start_field="enroute_at",
        end_field="on_scene_at",
        basis="first-arriving unit",
        percentile=90.0,
        percentiles=(50, 90, 95),
    )
    return zone_columns(fr, "tiny", has_name=True, has_density=True)


# ========================================================================= round trips
@pytest.mark.parametrize("fmt", list(EXT))
def test_round_trip_every_format(tmp_path, fmt):
    g = tiny_frame()
    path = tmp_path / f"tiny.{EXT[fmt]}"
    res = write_export(g, path, meta=tiny_meta(g))
    assert res.path == path and path.is_file() and res.format == fmt and res.rows == 3
    assert res.crs == "EPSG:4326"
    assert_same(raw_read(path, fmt), g)
    assert_same(read_export(path), g)
    doc = read_export_metadata(path)
    assert doc["title"] == "Tiny test layer" and doc["date_from"] == "2024-01-01"
    assert doc["profile"] == "nfpa1710" and doc["tool"] == "dispatch-analytics"
    assert doc["geometry"]["crs"] == "EPSG:4326" and doc["rows"] == 3
    assert {c["name"]: c["definition"] for c in doc["columns"]}["p90_s"] == "definition of p90_s"
    units = {c["name"]: c["unit"] for c in doc["columns"]}
    assert units["p90_s"] == "seconds" and units["compliance"] == "fraction 0-1"
    assert units["n"] == "count"
    labels = {c["name"]: c["label"] for c in doc["columns"]}
    assert labels["p90_s"] == "90th pct" and labels["flag"] == "note"
    types = {c["name"]: c["type"] for c in doc["columns"]}
    assert types == {
        "zone_id": "text",
        "n": "integer",
        "p90_s": "real",
        "compliance": "real",
        "flag": "text",
        "density_class": "text",
    }
    assert not list(tmp_path.glob(".*"))  # no staging left


def test_shapefile_zip_and_folder_hold_names_and_metadata(tmp_path):
    g = tiny_frame()
    write_export(g, tmp_path / "set.shp", meta=tiny_meta(g))
    assert {p.name for p in tmp_path.iterdir()} == {
        f"set{e}" for e in (".shp", ".shx", ".dbf", ".prj", ".cpg", ".names.csv", ".metadata.json")
    }
    fields = gpd.read_file(tmp_path / "set.shp").columns
    assert "density_cl" in fields and all(len(f) <= 10 for f in fields)
    res = write_export(g, tmp_path / "zipped.zip", meta=tiny_meta(g))
    assert res.files == [tmp_path / "zipped.zip"]
    with zipfile.ZipFile(tmp_path / "zipped.zip") as zf:
        assert sorted(zf.namelist()) == sorted(
            f"zipped{e}"
            for e in (".shp", ".shx", ".dbf", ".prj", ".cpg", ".names.csv", ".metadata.json")
        )
    assert_same(raw_read(tmp_path / "zipped.zip", "shp"), g)


def test_reprojection_to_a_state_plane(tmp_path):
    g = tiny_frame()
    g = g.set_geometry(g.geometry.translate(-122.5, 37.7).scale(0.01, 0.01, origin=(-122.5, 37.7)))
    for fmt in EXT:
        path = tmp_path / f"sp.{EXT[fmt]}"
        res = write_export(g, path, meta=tiny_meta(g), crs="EPSG:2227")
        assert res.crs == "EPSG:2227"
        back = read_export(path)
        assert back.crs.to_epsg() == 2227, fmt
        want = g.to_crs(2227)
        for a, b in zip(back.geometry, want.geometry, strict=True):
            assert a.hausdorff_distance(b) < 1e-6, fmt  # feet


def test_gpkg_metadata_and_column_descriptions(tmp_path):
    import pyogrio

    g = tiny_frame()
    write_export(g, tmp_path / "m.gpkg", meta=tiny_meta(g))
    info = pyogrio.read_info(tmp_path / "m.gpkg")
    md = info["layer_metadata"]
    assert md["DESCRIPTION"] == "Tiny test layer, 2024-01-01 to 2024-01-31"
    assert md["dispatch_analytics.profile"] == "nfpa1710"
    assert md["dispatch_analytics.date_to"] == "2024-01-31"
    assert json.loads(md["dispatch_analytics"])["columns"][0]["name"] == "zone_id"
    con = sqlite3.connect(tmp_path / "m.gpkg")
    rows = con.execute(
        "select column_name, title, description from gpkg_data_columns where table_name = 'zones'"
    ).fetchall()
    ext = con.execute("select table_name from gpkg_extensions where extension_name = 'gpkg_schema'")
    assert {r[0] for r in ext.fetchall()} == {"gpkg_data_columns", "gpkg_data_column_constraints"}
    con.close()
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert got["p90_s"] == ("90th pct", "definition of p90_s (seconds)")
    assert got["compliance"] == ("compliance", "definition of compliance (fraction 0-1)")
    assert set(got) == {c for c in g.columns if c != "geometry"}


def test_geoparquet_metadata_in_the_schema(tmp_path):
    g = tiny_frame()
    write_export(g, tmp_path / "m.parquet", meta=tiny_meta(g))
    schema = pq.read_schema(tmp_path / "m.parquet")
    assert b"geo" in schema.metadata
    doc = json.loads(schema.metadata[b"dispatch_analytics"])
    assert doc["title"] == "Tiny test layer" and doc["details"]["metric"] == "travel"
    assert schema.field("p90_s").metadata[b"description"] == b"definition of p90_s"
    assert schema.field("p90_s").metadata[b"unit"] == b"seconds"


def test_xlsx_readme_sheet_and_long_wkt(tmp_path):
    g = tiny_frame()
    # a polygon whose WKT is longer than an Excel cell holds (32,767 characters)
    ring = [(math.cos(t) * 0.1 + 10, math.sin(t) * 0.1) for t in np.linspace(0, 2 * math.pi, 3000)]
    g.loc[1, "geometry"] = shapely.Polygon(ring)
    assert len(g.geometry[1].wkt) > 40_000
    write_export(g, tmp_path / "m.xlsx", meta=tiny_meta(g))
    assert_same(raw_read(tmp_path / "m.xlsx", "xlsx"), g, tol=1e-12)
    import pyogrio

    assert [name for name, _ in pyogrio.list_layers(tmp_path / "m.xlsx")] == [
        "zones",
        "geometry",
        "README",
        "metadata",
    ]
    with zipfile.ZipFile(tmp_path / "m.xlsx") as zf:
        strings = zf.read("xl/sharedStrings.xml").decode()
    for text in (
        "Tiny test layer",
        "definition of p90_s",
        "90th pct",
        "fraction 0-1",
        "a note",
        "2024-01-01 to 2024-01-31",
        "nfpa1710",
    ):
        assert text in strings, text


def test_plain_frame_and_polars(tmp_path):
    import polars as pl

    df = pl.DataFrame({"unit_id": ["M1", "E2"], "n": [3, 4], "turnout_s": [61.0, None]})
    meta = ExportMeta("Units", "units", [ColumnInfo(c, f"def {c}") for c in df.columns])
    for fmt in ("csv", "xlsx", "gpkg"):
        path = tmp_path / f"u.{fmt}"
        res = write_export(df, path, meta=meta)
        assert res.crs is None
        back = read_export(path)
        assert back["unit_id"].tolist() == ["M1", "E2"] and back["n"].tolist() == [3, 4]
        assert back["turnout_s"].iloc[0] == 61.0 and pd.isna(back["turnout_s"].iloc[1])
    with pytest.raises(ExportError, match="needs a geometry column"):
        write_export(df, tmp_path / "u.geojson", meta=meta)


def test_booleans_and_datetimes_in_a_shapefile(tmp_path):
    g = tiny_frame()[["zone_id", "geometry"]].copy()
    g["met"] = [True, False, True]
    g["at"] = pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:30", None]).tz_localize("UTC")
    meta = ExportMeta("b", "zones", [ColumnInfo(c, "d") for c in ("zone_id", "met", "at")])
    write_export(g, tmp_path / "b.shp", meta=meta)
    back = read_export(tmp_path / "b.shp")
    assert back["met"].tolist() == [1, 0, 1]
    assert back["at"].tolist()[:2] == ["2024-01-01T10:00:00+00:00", "2024-01-02T11:30:00+00:00"]
    write_export(g, tmp_path / "b.gpkg", meta=meta)
    assert read_export(tmp_path / "b.gpkg")["met"].tolist() == [True, False, True]


def test_replaces_an_existing_file(tmp_path):
    g = tiny_frame()
    for fmt in ("gpkg", "shp", "csv"):
        path = tmp_path / f"r.{fmt}"
        write_export(g, path, meta=tiny_meta(g))
        write_export(g.iloc[:1], path, meta=tiny_meta(g))
        assert len(read_export(path)) == 1, fmt


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from dispatch_analytics.io import export_writers

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setitem(export_writers.WRITERS, "gpkg", boom)
    g = tiny_frame()
    with pytest.raises(ExportError, match="cannot write .*disk full; choose another path"):
        write_export(g, tmp_path / "x.gpkg", meta=tiny_meta(g))
    assert list(tmp_path.iterdir()) == []


# ============================================================================== errors
@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        (
            "x.gpkg",
            {"format": "shp"},
            r"`--out` 'x.gpkg' does not match `--format shp`.*rename it to x.shp or pass `--format gpkg`",
        ),
        (
            "x.kml",
            {"format": "kml"},
            r"`--format` 'kml' is unknown; use one of gpkg, geojson, shp, geoparquet, csv, xlsx",
        ),
        ("x.kml", {}, r"'x.kml' has no known extension and no `--format` was given"),
        ("x.txt", {"format": "csv"}, r"a csv file ends in .csv; rename it to x.csv"),
        ("nowhere/x.gpkg", {}, r"the folder '.*nowhere' does not exist; create it"),
        (
            "x.gpkg",
            {"crs": "EPSG:99999"},
            r"`--crs` 'EPSG:99999' is not a coordinate reference system",
        ),
    ],
)
def test_bad_output(tmp_path, name, kwargs, match):
    g = tiny_frame()
    with pytest.raises(ExportError, match=match):
        write_export(g, tmp_path / name, meta=tiny_meta(g), **kwargs)
    with pytest.raises(ExportError, match=match):
        ex.check_output(tmp_path / name, kwargs.get("format"), kwargs.get("crs"))
    assert not (tmp_path / name).exists()


def test_bad_output_paths_in_the_way(tmp_path):
    g = tiny_frame()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.gpkg").mkdir()
    with pytest.raises(ExportError, match=r"'.*afile' is a file, not a folder"):
        write_export(g, tmp_path / "afile" / "x.gpkg", meta=tiny_meta(g))
    with pytest.raises(ExportError, match=r"is a folder; give a file name inside it"):
        write_export(g, tmp_path / "adir.gpkg", meta=tiny_meta(g))


def test_bad_frames_collect_every_problem(tmp_path):
    g = tiny_frame()
    meta = tiny_meta(g)
    with pytest.raises(ExportError, match="nothing to export: the zones layer has no rows"):
        write_export(g.iloc[:0], tmp_path / "e.gpkg", meta=meta)
    undocumented = g.assign(extra=1)
    with pytest.raises(ExportError, match=r"column\(s\) extra have no definition"):
        write_export(undocumented, tmp_path / "u.gpkg", meta=meta)
    no_crs = g.set_crs(None, allow_override=True)
    with pytest.raises(ExportError, match="no CRS; set one"):
        write_export(no_crs, tmp_path / "c.gpkg", meta=meta)
    with pytest.raises(ExportError) as info:
        write_export(undocumented.iloc[:0], tmp_path / "x.kml", format="shp", meta=meta)
    assert len(info.value.problems) == 3  # extension, no rows, undocumented column
    with pytest.raises(ExportError, match="expected a \\(Geo\\)DataFrame"):
        write_export([1, 2], tmp_path / "l.csv")


# ================================================================== zone metrics (tiny)
ZONES = {
    "A": (-74.02, 40.70, -74.00, 40.72),
    "B": (-74.00, 40.70, -73.98, 40.72),
    "C": (-73.98, 40.70, -73.96, 40.72),
}


def _ts(t: dt.datetime) -> str:
    return t.strftime("%m/%d/%Y %H:%M:%S")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """61 incidents in zone A (ties; one without an arrival), one in B just after midnight on
    Jan 16 (local), one outside every zone, none in C; times in America/New_York."""
    d = tmp_path_factory.mktemp("zm")
    rng = np.random.default_rng(7)
    totals = (rng.integers(6, 30, 60) * 30).tolist()  # multiples of 30 s: many ties
    rows, by_zone = [], {"A": [], "B": []}
    start = dt.datetime(2024, 1, 15, 0, 10)
    for i, total in enumerate(totals):
        t0 = start + dt.timedelta(minutes=20 * i)
        if i == 59:
            t0 = dt.datetime(2024, 1, 15, 23, 59, 30)  # still Jan 15 locally (Jan 16 in UTC)
        rows.append(
            unit_row(
                inc=f"A{i}",
                unit="M1",
                rcvd=_ts(t0),
                disp=_ts(t0 + dt.timedelta(seconds=20)),
                enrt=_ts(t0 + dt.timedelta(seconds=40)),
                arrv=_ts(t0 + dt.timedelta(seconds=total)),
                clr=_ts(t0 + dt.timedelta(hours=1)),
                lat="40.71",
                lon="-74.01",
            )
        )
        by_zone["A"].append((t0, float(total)))
    t0 = dt.datetime(2024, 1, 15, 22, 0)
    rows.append(
        unit_row(
            inc="A_missing",
            rcvd=_ts(t0),
            disp=_ts(t0),
            enrt=_ts(t0),
            arrv="",
            clr="",
            lat="40.71",
            lon="-74.01",
        )
    )
    t0 = dt.datetime(2024, 1, 16, 0, 0, 10)
    rows.append(
        unit_row(
            inc="B0",
            rcvd=_ts(t0),
            disp=_ts(t0 + dt.timedelta(seconds=30)),
            enrt=_ts(t0 + dt.timedelta(seconds=60)),
            arrv=_ts(t0 + dt.timedelta(seconds=200)),
            clr=_ts(t0 + dt.timedelta(hours=1)),
            lat="40.71",
            lon="-73.99",
        )
    )
    by_zone["B"].append((t0, 200.0))
    rows.append(
        unit_row(
            inc="OUT",
            rcvd=_ts(start),
            disp=_ts(start),
            enrt=_ts(start),
            arrv=_ts(start + dt.timedelta(seconds=99)),
            clr=_ts(start + dt.timedelta(hours=1)),
            lat="40.80",
            lon="-74.01",
        )
    )
    src = write_csv(d / "calls.csv", UNIT_HEADER, rows)
    toml = write_toml(d / "unit.toml", UNIT_TOML)
    zones = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"zone": k, "label": f"Zone {k}"},
                "geometry": shapely.geometry.mapping(shapely.box(*b)),
            }
            for k, b in ZONES.items()
        ],
    }
    (d / "zones.geojson").write_text(json.dumps(zones))
    data = d / "store"
    for args in (
        ["ingest", src, "--mapping", toml],
        [
            "zones",
            "load",
            d / "zones.geojson",
            "--layer",
            "tiny",
            "--id-field",
            "zone",
            "--name-field",
            "label",
        ],
    ):
        assert main([str(a) for a in args] + ["--data-dir", str(data)]) == 0
    return Store(data, create=False), by_zone


def _expected(values: list[float], target: float | None, p: float = 90) -> dict:
    """p50 / p90 / p95 with numpy's inverted CDF (nearest rank), the order-statistic CI with
    scipy's binomial, compliance as a plain mean."""
    from scipy.stats import binom

    x = np.sort(np.array(values))
    n = len(x)
    out = {f"p{q}_s": float(np.percentile(x, q, method="inverted_cdf")) for q in (50, 90, 95)}
    a = 0.025
    ranks = np.arange(1, n + 1)
    low = [r for r in ranks if binom.cdf(r - 1, n, p / 100) <= a + 1e-9]
    high = [r for r in ranks if binom.cdf(r - 1, n, p / 100) >= 1 - a - 1e-9]
    out["ci_low_s"] = float(x[max(low) - 1]) if low else None
    out["ci_high_s"] = float(x[min(high) - 1]) if high else None
    out["compliance"] = float(np.mean(x <= target)) if target is not None else None
    out["n"] = n
    out["mean_s"] = float(np.mean(x))
    return out


def test_zone_metrics_against_numpy_and_scipy(tiny_store):
    store, by_zone = tiny_store
    zm = ZoneMetrics.from_store(store, "tiny", metric="total_response", target_s=480)
    f = zm.frame.set_index("zone_id")
    assert list(zm.frame["zone_id"]) == ["A", "B", "C"] and zm.frame.crs == "EPSG:4326"
    assert list(zm.frame.columns) == [
        "zone_id",
        "name",
        "area_km2",
        "n",
        "n_missing",
        "mean_s",
        "p50_s",
        "p90_s",
        "p95_s",
        "percentile",
        "ci_low_s",
        "ci_high_s",
        "target_s",
        "compliance",
        "status",
        "flag",
        "geometry",
    ]
    want = _expected([v for _, v in by_zone["A"]], 480)
    got = f.loc["A"]
    for k, v in want.items():
        assert (got[k] is None or pd.isna(got[k])) if v is None else math.isclose(got[k], v), k
    assert got["n_missing"] == 1 and got["name"] == "Zone A" and got["target_s"] == 480
    assert got["status"] == ("met" if want["p90_s"] <= 480 else "not_met")
    assert (got["status"] == "met") == (want["compliance"] >= 0.9)
    b = f.loc["B"]  # one value: every fractile is it; the CI cannot be bounded
    assert (b["n"], b["p50_s"], b["p90_s"], b["p95_s"]) == (1, 200.0, 200.0, 200.0)
    assert pd.isna(b["ci_low_s"]) and pd.isna(b["ci_high_s"])
    assert b["compliance"] == 1.0 and b["status"] == "met" and b["flag"] == "small_sample"
    c = f.loc["C"]  # no incidents: kept, n = 0
    assert (c["n"], c["n_missing"], c["status"], c["flag"]) == (0, 0, "no_data", "no_data")
    assert pd.isna(c["p90_s"]) and pd.isna(c["compliance"]) and c["target_s"] == 480
    assert zm.n_outside == 1 and zm.meta.details["incidents_outside_layer"] == 1
    assert zm.n_incidents == 63 and zm.timezone == "America/New_York"
    assert math.isclose(
        f.loc["A", "area_km2"], zm.frame.to_crs(6933).area.iloc[0] / 1e6, rel_tol=1e-3
    )


def test_zone_metrics_equal_fractiles_from_store(tiny_store):
    """One definition: the numbers are Fractiles.from_store's."""
    from dispatch_analytics.metrics.fractiles import Fractiles

    store, _ = tiny_store
    zm = ZoneMetrics.from_store(store, "tiny", metric="travel")
    con = store.connect()
    fr = Fractiles.from_store(con, metric="travel", by=("layer:tiny",), profile="nfpa1710")
    con.close()
    t = {r["zone_id"]: r for r in fr.table.iter_rows(named=True)}
    for r in zm.frame.itertuples():
        if r.zone_id in t:
            for c in (
                "n",
                "p50_s",
                "p90_s",
                "p95_s",
                "ci_low_s",
                "ci_high_s",
                "compliance",
                "target_s",
            ):
                a, b = getattr(r, c), t[r.zone_id][c]
                assert (b is None and pd.isna(a)) or a == b, (r.zone_id, c)
    assert zm.meta.details["target_s"] == 240.0 and zm.meta.details["entries"] == [
        "travel_first_unit"
    ]
    assert zm.meta.details["start"] == "enroute_at" and zm.meta.details["end"] == "on_scene_at"


def test_zone_metrics_local_dates(tiny_store):
    store, by_zone = tiny_store
    zm = ZoneMetrics.from_store(
        store, "tiny", target_s=480, date_from="2024-01-15", date_to="2024-01-15"
    )
    f = zm.frame.set_index("zone_id")
    assert f.loc["A", "n"] == 60  # 23:59:30 local on Jan 15 is in (it is Jan 16 in UTC)
    assert f.loc["B", "n"] == 0 and f.loc["B", "status"] == "no_data"  # 00:00:10 Jan 16 is out
    assert (zm.meta.date_from, zm.meta.date_to) == ("2024-01-15", "2024-01-15")
    zm2 = ZoneMetrics.from_store(store, "tiny", target_s=480, date_from=dt.date(2024, 1, 16))
    assert zm2.frame.set_index("zone_id").loc["B", "n"] == 1 and zm2.n_incidents == 1
    assert zm2.meta.date_to == "2024-01-16"  # the data's last local date


def test_zone_metrics_without_a_target(tiny_store):
    store, _ = tiny_store
    zm = ZoneMetrics.from_store(store, "tiny")  # nfpa1710 sets no total_response target
    assert set(zm.frame["status"]) == {"no_target", "no_data"}
    assert zm.frame["compliance"].isna().all() and zm.frame["target_s"].isna().all()
    assert zm.warnings and "sets no target for total_response" in zm.warnings[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer": "nope"}, ZoneError, r"`layer` 'nope' is not loaded; loaded layers: tiny"),
        (
            {"date_from": "2024-02-30"},
            MetricError,
            r"`--from` '2024-02-30' is not a date; write it as YYYY-MM-DD",
        ),
        (
            {"date_from": "2024-01-16", "date_to": "2024-01-15"},
            MetricError,
            r"`--from` 2024-01-16 is after `--to` 2024-01-15; swap them",
        ),
        (
            {"date_from": "2025-01-01"},
            MetricError,
            r"no incidents received from 2025-01-01 to the end; the store holds 2024-01-15 to 2024-01-16",
        ),
        (
            {"metric": "turnout"},
            MetricError,
            r"several targets for `--metric turnout` \(turnout_ems, turnout_fire\); choose one with `--metric turnout_ems`",
        ),
        ({"metric": "nope"}, MetricError, r"unknown metric 'nope'"),
        ({"agency": "Nowhere FD"}, AgencyError, r"`agency` 'Nowhere FD' is not in the store"),
    ],
)
def test_zone_metrics_errors(tiny_store, kwargs, error, match):
    store, _ = tiny_store
    kwargs = {"layer": "tiny", **kwargs}
    with pytest.raises(error, match=match):
        ZoneMetrics.from_store(store, **kwargs)


# ============================================================== the CLI on the SF week
def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, " ".join(cap.err.split())


@pytest.fixture(scope="module")
def sf_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("sf") / "store"
    for args in (
        ["ingest", SF_CSV, "--profile", "sffd"],
        ["zones", "load", NHOODS, "--layer", "neighborhoods", "--id-field", "nhood"],
        list(SF_STATIONS_LOAD),
    ):
        assert main([str(a) for a in args] + ["--data-dir", str(d)]) == 0
    return d


@pytest.mark.slow  # 15-30 s per format
@pytest.mark.parametrize("fmt", list(EXT))
def test_cli_exports_sf_neighbourhoods_in_every_format(sf_store, tmp_path, capsys, fmt):
    out = tmp_path / f"nh.{EXT[fmt]}"
    args = [
        "export",
        "zones",
        "--layer",
        "neighborhoods",
        "--metric",
        "travel",
        "--format",
        fmt,
        "--out",
        out,
        "--from",
        "2017-01-01",
        "--to",
        "2017-01-06",
        "--data-dir",
        sf_store,
    ]
    code, text, err = run(capsys, *args)
    assert code == 0, err
    assert f"wrote {out} (41 zones, {fmt}, EPSG:4326)" in " ".join(text.split())
    want = ZoneMetrics.from_store(
        Store(sf_store, create=False),
        "neighborhoods",
        metric="travel",
        date_from="2017-01-01",
        date_to="2017-01-06",
    ).frame
    assert len(want) == 41 and want["n"].sum() > 2000 and (want["status"] == "not_met").any()
    back = raw_read(out, fmt)
    assert_same(back, want)
    doc = read_export_metadata(out)
    assert (doc["date_from"], doc["date_to"], doc["profile"]) == (
        "2017-01-01",
        "2017-01-06",
        "nfpa1710",
    )
    assert doc["details"]["layer"] == "neighborhoods" and doc["details"]["method"] == "nearest-rank"
    # the store's only agency, named in the export's metadata
    assert doc["details"]["timezone"] == "America/Los_Angeles" and doc["agency"] == "SFFD"
    assert doc["tool_version"] and doc["generated_at"].endswith("+00:00")
    defs = {c["name"]: c["definition"] for c in doc["columns"]}
    assert "enroute_at -> on_scene_at" in defs["p90_s"] and "nearest-rank" in defs["p90_s"]
    assert "profile nfpa1710, entry travel_first_unit" in defs["target_s"]


@pytest.mark.slow  # a zipped shapefile through the CLI; fast: test_reprojection_to_a_state_plane
def test_cli_export_reprojects_and_zips(sf_store, tmp_path, capsys):
    out = tmp_path / "nh.zip"
    code, text, err = run(
        capsys,
        "export",
        "zones",
        "--layer",
        "neighborhoods",
        "--target-s",
        "480",
        "--out",
        out,
        "--crs",
        "EPSG:2227",
        "--data-dir",
        sf_store,
    )
    assert code == 0, err
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 2227 and len(back) == 41
    assert back.total_bounds[0] > 5_000_000  # US survey feet, not degrees
    assert set(back["status"]) <= {"met", "not_met", "no_data"}


@pytest.mark.parametrize(
    "args, match",
    [
        (
            ["--layer", "nope", "--out", "{d}/x.gpkg"],
            r"`layer` 'nope' is not loaded; loaded layers: neighborhoods",
        ),
        (["--out", "{d}/x.gpkg"], r"`--layer` is required for zones; loaded layers: neighborhoods"),
        (
            ["--layer", "neighborhoods", "--format", "shp", "--out", "{d}/x.gpkg"],
            r"'x.gpkg' does not match `--format shp`",
        ),
        (
            ["--layer", "neighborhoods", "--format", "kml", "--out", "{d}/x.kml"],
            r"`--format` 'kml' is unknown",
        ),
        (
            ["--layer", "neighborhoods", "--out", "{d}/missing/x.gpkg"],
            r"the folder '.*missing' does not exist",
        ),
        (
            ["--layer", "neighborhoods", "--out", "{d}/x.gpkg", "--from", "2020-01-01"],
            r"no incidents received from 2020-01-01",
        ),
        (
            ["--layer", "neighborhoods", "--out", "{d}/x.gpkg", "-p", "oops"],
            r"`--param` 'oops' is not key=value",
        ),
    ],
)
def test_cli_export_errors(sf_store, tmp_path, capsys, args, match):
    args = [a.format(d=tmp_path) for a in args]
    code, text, err = run(capsys, "export", "zones", *args, "--data-dir", sf_store)
    assert code == 1
    assert "Traceback" not in err and err.startswith("Error: ")
    # a long path may wrap (e.g. under xdist): compare without the spaces wrapping adds
    assert __import__("re").search(match.replace(" ", ""), err.replace(" ", "")), err
    assert not any(tmp_path.iterdir())


def test_cli_export_empty_layer(sf_store, tmp_path, capsys, monkeypatch):
    """A layer that holds no zones (written by hand: `zones load` refuses empty files)."""
    from dispatch_analytics.spatial import read_layer

    empty = read_layer(sf_store, "neighborhoods").iloc[:0]
    import shutil

    d = tmp_path / "store"
    shutil.copytree(sf_store, d)
    empty.to_parquet(d / "spatial" / "zones" / "empty.parquet")
    code, _, err = run(
        capsys, "export", "zones", "--layer", "empty", "--out", tmp_path / "x.gpkg", "--data-dir", d
    )
    assert (
        code == 1 and "`--layer` 'empty' has no zones; reload it with `dispatch zones load`" in err
    )


def test_cli_export_help_has_an_example(capsys):
    for group in (["export"], ["export", "zones"]):
        code, text, _ = run(capsys, *group, "--help")
        assert code == 0 and "Example: dispatch export zones" in " ".join(text.split())
