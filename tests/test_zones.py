"""Zone layers: loading (formats, CRS, validation, repair, overlaps, gaps), point-in-zone
assignment, incident assignment end to end, the DuckDB views and the spatial extension."""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path

import duckdb
import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import SF_SLICE, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from dispatch_analytics import IngestError, Store, StoreError, ingest, load_profile
from dispatch_analytics.spatial import (
    ZoneError,
    assign_incidents,
    assign_point_index,
    assign_points,
    list_layers,
    load_zones,
    outside_incidents,
    read_layer,
)
from dispatch_analytics.spatial import h3cells as H3
from dispatch_analytics.spatial import index as IX
from dispatch_analytics.spatial import zones as Z
from dispatch_analytics.store import extension as EXT
from dispatch_analytics.store import spatial_tables as ST
from dispatch_analytics.store.extension import load_spatial_extension, spatial_geometry_sql
from dispatch_analytics.store.spatial_tables import init_spatial, spatial_view_sql

SF_DIR = Path(__file__).resolve().parents[1] / "sample_data" / "sf_week"
NHOODS = SF_DIR / "sf_analysis_neighborhoods.geojson"
ZDATA = Path(__file__).parent / "data" / "zones"


# ============================================================================ helpers
def squares(
    n: int = 2,
    size: float = 0.01,
    x0: float = -122.45,
    y0: float = 37.75,
    crs: str | None = "EPSG:4326",
) -> gpd.GeoDataFrame:
    """An n x n grid of squares, ids A, B, ... row by row from the south-west corner."""
    rows = []
    for j in range(n):
        for i in range(n):
            k = j * n + i
            rows.append(
                {
                    "zone": chr(ord("A") + k),
                    "label": f"Zone {k}",
                    "geometry": shapely.box(
                        x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size
                    ),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def write(gdf: gpd.GeoDataFrame, folder: Path, fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "geojson":
        p = folder / "zones.geojson"
        gdf.to_file(p, driver="GeoJSON")
    elif fmt == "gpkg":
        p = folder / "zones.gpkg"
        gdf.to_file(p, driver="GPKG", layer="zones")
    elif fmt == "shp":
        p = folder / "zones.shp"
        gdf.to_file(p)
    elif fmt == "zip":
        shp = folder / "shp"
        shp.mkdir()
        gdf.to_file(shp / "zones.shp")
        p = folder / "zones.zip"
        with zipfile.ZipFile(p, "w") as zf:
            for f in shp.iterdir():
                zf.write(f, f"inner/{f.name}")
    elif fmt == "parquet":
        p = folder / "zones.parquet"
        gdf.to_parquet(p)
    else:  # pragma: no cover
        raise ValueError(fmt)
    return p


def geodesic_km2(geom) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]) / 1e6


def first_containing(geoms, x, y, predicate=shapely.contains_xy) -> np.ndarray:
    """Brute force: the first zone (in order) whose predicate holds, or -1."""
    out = np.full(len(x), -1)
    for i, g in enumerate(geoms):
        if g is None:
            continue
        hit = predicate(g, x, y) & (out < 0)
        out[hit] = i
    return out


@pytest.fixture(params=["direct", "grid"])
def path_mode(request, monkeypatch):
    """Run a test through both point-in-zone code paths."""
    monkeypatch.setattr(IX, "_DIRECT_MAX_WORK", 10**18 if request.param == "direct" else 0)
    return request.param


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


# ============================================================================ loading
@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "zip", "parquet"])
def test_load_each_format(tmp_path, root, fmt):
    src = squares()
    path = write(src, tmp_path / "in", fmt)
    rep = load_zones(root, path, "demand_zones", id_field="zone", name_field="label")
    assert rep.n_zones == 4 and rep.layer == "demand_zones"
    assert rep.crs_in in ("EPSG:4326", "OGC:CRS84")
    assert rep.overlaps == [] and rep.gaps_count == 0 and rep.repaired == []
    assert list_layers(root) == ["demand_zones"]
    got = read_layer(root, "demand_zones")
    assert got.crs.to_epsg() == 4326
    assert list(got.columns) == [
        "layer",
        "agency",
        "zone_id",
        "name",
        "density_class",
        "area_km2",
        "geometry",
    ]
    assert got["zone_id"].tolist() == ["A", "B", "C", "D"]
    assert got["name"].tolist() == ["Zone 0", "Zone 1", "Zone 2", "Zone 3"]
    assert got["layer"].tolist() == ["demand_zones"] * 4
    assert got["density_class"].isna().all()
    for g, s in zip(got.geometry, src.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(g), shapely.normalize(s), tolerance=1e-12)
    for a, g in zip(got["area_km2"], got.geometry, strict=True):
        assert a == pytest.approx(geodesic_km2(g), rel=1e-4)
    # GeoParquet written: geo metadata, and no temp files left behind
    assert b"geo" in pq.read_schema(root / "spatial/zones/demand_zones.parquet").metadata
    assert not [p for p in (root / "spatial/zones").iterdir() if p.name.endswith(".tmp")]


def test_numeric_ids_become_text(tmp_path, root):
    src = squares().assign(num=[7, 8, 9, 10])
    rep = load_zones(root, write(src, tmp_path, "shp"), "z", id_field="num")
    assert rep.n_zones == 4
    assert read_layer(root, "z")["zone_id"].tolist() == ["7", "8", "9", "10"]


def test_zip_with_several_shapefiles(tmp_path, root):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    squares(2).to_file(a / "east.shp")
    squares(3).to_file(b / "west.shp")
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for d in (a, b):
            for f in d.iterdir():
                zf.write(f, f"data/{f.name}")
    with pytest.raises(
        ZoneError,
        match=r"holds several datasets: east, west; pick one with "
        r"`source_layer`",
    ):
        load_zones(root, z, "x", id_field="zone")
    assert load_zones(root, z, "x", id_field="zone", source_layer="west").n_zones == 9
    with pytest.raises(ZoneError, match=r"`source_layer` 'north' is not a dataset .* east, west"):
        load_zones(root, z, "x", id_field="zone", source_layer="north")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(IngestError, match="not a zip file"):
        load_zones(root, bad, "x", id_field="zone")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(IngestError, match=r"holds no Shapefile"):
        load_zones(root, empty, "x", id_field="zone")


def test_geopackage_layers(tmp_path, root):
    p = tmp_path / "two.gpkg"
    squares(2).to_file(p, layer="small", driver="GPKG")
    squares(3).to_file(p, layer="big", driver="GPKG")
    with pytest.raises(
        ZoneError,
        match=r"holds several layers: .*small.*; pick one with "
        r"`source_layer` \(--source-layer NAME\)",
    ):
        load_zones(root, p, "x", id_field="zone")
    assert load_zones(root, p, "x", id_field="zone", source_layer="big").n_zones == 9
    with pytest.raises(
        ZoneError,
        match=r"`source_layer` 'medium' is not a layer of .*its "
        r"layers: ",
    ):
        load_zones(root, p, "x", id_field="zone", source_layer="medium")


@pytest.mark.parametrize("epsg", [2227, 3857])
def test_projected_crs_is_reprojected(tmp_path, root, epsg):
    src = squares()
    path = write(src.to_crs(epsg), tmp_path, "gpkg")
    rep = load_zones(root, path, "z", id_field="zone")
    assert rep.crs_in == f"EPSG:{epsg}"
    got = read_layer(root, "z")
    for g, s in zip(got.geometry, src.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(g), shapely.normalize(s), tolerance=1e-9)
    for a, g in zip(got["area_km2"], src.geometry, strict=True):
        assert a == pytest.approx(geodesic_km2(g), rel=1e-4)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs_is_an_error_unless_given(tmp_path, root):
    src = squares()
    path = write(src.to_crs(2227).set_crs(None, allow_override=True), tmp_path, "shp")
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(ZoneError, match=r"`crs`: .*zones.shp has no CRS; pass --crs EPSG:XXXX"):
        load_zones(root, path, "z", id_field="zone")
    rep = load_zones(root, path, "z", id_field="zone", crs="EPSG:2227")
    assert rep.crs_in == "EPSG:2227"
    got = read_layer(root, "z")
    assert shapely.equals_exact(
        shapely.normalize(got.geometry[0]), shapely.normalize(src.geometry[0]), tolerance=1e-9
    )
    with pytest.raises(ZoneError, match=r"`crs` 'EPSG:999999' is not a coordinate reference"):
        load_zones(root, path, "z", id_field="zone", crs="EPSG:999999")


def test_crs_override_and_wrong_crs(tmp_path, root):
    src = squares()
    # coordinates in EPSG:2227 feet, but the file says EPSG:4326
    wrong = src.to_crs(2227).set_crs(4326, allow_override=True)
    path = write(wrong, tmp_path / "w", "gpkg")
    with pytest.raises(ZoneError, match=r"outside longitude/latitude range .*pass --crs"):
        load_zones(root, path, "z", id_field="zone")
    with pytest.warns(UserWarning, match=r"declares CRS EPSG:4326; reading it as EPSG:2227"):
        rep = load_zones(root, path, "z", id_field="zone", crs="EPSG:2227")
    assert rep.crs_in == "EPSG:2227"
    got = read_layer(root, "z")
    assert got.total_bounds == pytest.approx(src.total_bounds, abs=1e-9)


def test_bowtie_is_repaired_with_a_warning(tmp_path, root):
    bow = shapely.Polygon([(0, 0), (0.01, 0.01), (0.01, 0), (0, 0.01), (0, 0)])
    ok = shapely.box(0.02, 0, 0.03, 0.01)
    gdf = gpd.GeoDataFrame({"zone": ["bow", "fine"]}, geometry=[bow, ok], crs=4326)
    with pytest.warns(
        UserWarning,
        match=r"zone 'bow' of layer 'z': invalid geometry "
        r"\(Self-intersection.*repaired with shapely.make_valid",
    ):
        rep = load_zones(root, write(gdf, tmp_path, "parquet"), "z", id_field="zone")
    assert rep.repaired == ["bow"]
    got = read_layer(root, "z")
    assert got.geometry.is_valid.all()
    assert got.geometry[0].geom_type == "MultiPolygon"
    # two triangles, each a quarter of the 0.01-degree square
    half = shapely.box(0, 0, 0.01, 0.01)
    assert got["area_km2"][0] == pytest.approx(geodesic_km2(half) / 2, rel=1e-3)


def test_invalid_beyond_repair_is_an_error(tmp_path, root):
    flat = shapely.Polygon([(0, 0), (1, 0), (2, 0), (0, 0)])  # no area
    line = shapely.LineString([(5, 5), (5, 5)])  # invalid, but reported as not a polygon
    gdf = gpd.GeoDataFrame(
        {"zone": ["flat", "ok", "ok", "line"]},
        geometry=[flat, shapely.box(3, 3, 4, 4), shapely.box(4, 3, 5, 4), line],
        crs=4326,
    )
    with pytest.raises(ZoneError) as ei:
        load_zones(root, write(gdf, tmp_path, "parquet"), "z", id_field="zone")
    probs = ei.value.problems
    assert len(probs) == 3, probs
    assert re.search(r"zone 'flat' has an invalid geometry .* no area left", probs[2])
    assert re.search(r"duplicate `id_field` 'zone' values: 'ok'", probs[0])
    assert re.search(r"these are not: 'line' \(LineString\)", probs[1])


def km_squares(boxes: dict[str, tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    """Squares given in metres of EPSG:6933 (an equal-area projection)."""
    return gpd.GeoDataFrame(
        {"zone": list(boxes)}, geometry=[shapely.box(*b) for b in boxes.values()], crs="EPSG:6933"
    )


def test_overlaps_reported_with_area(tmp_path, root):
    x, y = -11_800_000.0, 4_500_000.0  # metres in EPSG:6933 (about the US Midwest)
    gdf = km_squares(
        {
            "A": (x, y, x + 1000, y + 1000),
            "B": (x + 500, y, x + 1500, y + 1000),  # half of A: 0.5 km2
            "C": (x + 1499.99, y, x + 2499.99, y + 1000),  # 10 m2 with B: below 0.01 %
            "D": (x, y + 999.8, x + 1000, y + 1999.8),  # 200 m2 with A: above 0.01 %
        }
    )
    rep = load_zones(root, write(gdf, tmp_path, "gpkg"), "z", id_field="zone")
    assert [(a, b) for a, b, _ in rep.overlaps] == [("A", "B"), ("A", "D")]
    assert rep.overlaps[0][2] == pytest.approx(0.5, rel=1e-3)
    assert rep.overlaps[1][2] == pytest.approx(0.0002, rel=1e-2)
    assert read_layer(root, "z")["area_km2"].tolist() == pytest.approx([1.0] * 4, rel=1e-4)
    assert "overlapping zones" in rep.summary()


def test_gaps_reported_with_area(tmp_path, root):
    x, y = -11_800_000.0, 4_500_000.0
    boxes = {}
    for j in range(3):
        for i in range(3):
            if (i, j) != (1, 1):  # the middle one missing: a 1 km2 hole
                boxes[f"Z{i}{j}"] = (
                    x + i * 1000,
                    y + j * 1000,
                    x + (i + 1) * 1000,
                    y + (j + 1) * 1000,
                )
    # a second hole of 0.25 km2 inside a separate zone with a hole of its own
    ring = shapely.Polygon(
        shapely.box(x + 5000, y, x + 6000, y + 1000).exterior.coords,
        [shapely.box(x + 5250, y + 250, x + 5750, y + 750).exterior.coords],
    )
    gdf = km_squares(boxes)
    gdf = gpd.GeoDataFrame(
        {"zone": [*gdf["zone"], "ring"]}, geometry=[*gdf.geometry, ring], crs="EPSG:6933"
    )
    rep = load_zones(root, write(gdf, tmp_path, "gpkg"), "z", id_field="zone")
    assert rep.overlaps == []
    assert rep.gaps_count == 2
    assert rep.gaps_area_km2 == pytest.approx(1.25, rel=1e-3)
    assert "gaps (holes in the layer): 2" in rep.summary()


def test_validation_collects_every_problem(tmp_path, root):
    gdf = gpd.GeoDataFrame(
        {"zone": ["a", "a", None, "b", "c"], "cls": ["urban", "Rural", "metro", "", "x"]},
        geometry=[
            shapely.box(0, 0, 1, 1),
            shapely.box(1, 0, 2, 1),
            shapely.box(2, 0, 3, 1),
            shapely.Point(5, 5),
            None,
        ],
        crs=4326,
    )
    with pytest.raises(ZoneError) as ei:
        load_zones(
            root,
            write(gdf, tmp_path, "parquet"),
            "z",
            id_field="zone",
            density_field="cls",
            name_field="nme",
        )
    msg = str(ei.value)
    assert msg.startswith("cannot load layer 'z' from ")
    assert len(ei.value.problems) == 6
    for pattern in [
        r"`name_field` 'nme' is not a field of .*available fields: zone, cls",
        r"blank `id_field` 'zone' in 1 zone\(s\): feature 3 ",
        r"duplicate `id_field` 'zone' values: 'a' \(features 1, 2\)",
        r"zones without geometry: 'c'",
        r"zones must be polygons; these are not: 'b' \(Point\)",
        r"`density_field` 'cls' must be one of urban, suburban, rural, remote \(any case\); "
        r"bad values: 'metro' \(zones feature 3\); blank \(zones 'b'\); 'x' \(zones 'c'\)",
    ]:
        assert any(re.search(pattern, p) for p in ei.value.problems), pattern
    assert not list_layers(root)


def test_missing_id_field_lists_fields_with_close_match(tmp_path, root):
    path = write(squares().rename(columns={"zone": "zone_id"}), tmp_path, "geojson")
    with pytest.raises(
        ZoneError,
        match=r"`id_field` 'zoneid' is not a field of .*available "
        r"fields: zone_id, label; did you mean 'zone_id'\?",
    ):
        load_zones(root, path, "z", id_field="zoneid")
    with pytest.raises(
        ZoneError,
        match=r"`id_field` 'ZONE_ID' is not a field .*did you mean "
        r"'zone_id'\? \(names are case-sensitive\)",
    ):
        load_zones(root, path, "z", id_field="ZONE_ID")


def test_empty_and_unreadable_files(tmp_path, root):
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(ZoneError, match=r"empty.geojson has no features"):
        load_zones(root, empty, "z", id_field="zone")
    with pytest.raises(IngestError, match=r"nope.geojson: no such file"):
        load_zones(root, tmp_path / "nope.geojson", "z", id_field="zone")
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1]}), plain)
    with pytest.raises(IngestError, match=r"cannot read .*plain.parquet as GeoParquet"):
        load_zones(root, plain, "z", id_field="zone")
    junk = tmp_path / "junk.geojson"
    junk.write_text("this is not json")
    with pytest.raises(IngestError, match=r"cannot read .*junk.geojson"):
        load_zones(root, junk, "z", id_field="zone")


@pytest.mark.parametrize(
    "bad, fix",
    [("Demand Zones", "demand_zones"), ("1st", "zone_1st"), ("a-b", "a_b"), ("", "zones")],
)
def test_layer_name_rules(tmp_path, root, bad, fix):
    path = write(squares(), tmp_path, "geojson")
    with pytest.raises(
        ZoneError,
        match=rf"`layer` '{bad}' is not a valid layer name: use "
        rf"lower-case .* e\.g\. '{fix}'",
    ):
        load_zones(root, path, bad, id_field="zone")


def test_density_classes_case_insensitive(root):
    rep = load_zones(
        root,
        ZDATA / "demand_zones.geojson",
        "demand",
        id_field="zone_id",
        name_field="name",
        density_field="density",
    )
    got = read_layer(root, "demand")
    assert rep.n_zones == 4
    assert got["density_class"].tolist() == ["urban", "suburban", "rural", "remote"]
    assert rep.gaps_count == 0 and rep.overlaps == []


def test_loading_again_replaces_the_layer(tmp_path, root):
    load_zones(root, write(squares(3), tmp_path / "a", "geojson"), "z", id_field="zone")
    assert len(read_layer(root, "z")) == 9
    load_zones(root, write(squares(2), tmp_path / "b", "geojson"), "z", id_field="zone")
    assert len(read_layer(root, "z")) == 4
    load_zones(root, write(squares(2), tmp_path / "c", "geojson"), "other", id_field="zone")
    assert list_layers(root) == ["other", "z"]


def test_read_unknown_layer(tmp_path, root):
    with pytest.raises(ZoneError, match=r"`layer` 'x' is not loaded; loaded layers: \(none\)"):
        read_layer(root, "x")
    path = write(squares(), tmp_path, "geojson")
    load_zones(root, path, "b", id_field="zone")
    load_zones(root, path, "a", id_field="zone")
    with pytest.raises(
        ZoneError,
        match=r"^`layer` 'x' is not loaded; loaded layers: a, b; "
        r"load one with `dispatch zones load`$",
    ):
        read_layer(root, "x")
    with pytest.raises(ZoneError, match=r"not loaded"):
        read_layer(root, "../zones/a")


def test_init_spatial_placeholders(root):
    init_spatial(root)
    sp = root / "spatial"
    expect = {
        sp / "zones/_empty.parquet": {
            "layer": "string",
            "agency": "string",
            "zone_id": "string",
            "name": "string",
            "density_class": "string",
            "area_km2": "double",
            "geometry": "binary",
            "generation": "int64",  # which assignment file belongs to the layer
        },
        sp / "incident_zones/_empty.parquet": {
            "agency": "string",
            "incident_id": "string",
            "layer": "string",
            "zone_id": "string",
            "generation": "int64",
        },
        sp / "stations.parquet": {
            "agency": "string",
            "station_id": "string",
            "name": "string",
            "latitude": "double",
            "longitude": "double",
            "geometry": "binary",
        },
        sp / "incident_cells.parquet": {
            "agency": "string",
            "incident_id": "string",
            "resolution": "int8",
            "h3_cell": "string",
        },
    }
    for p, cols in expect.items():
        schema = pq.read_schema(p)
        assert {f.name: str(f.type) for f in schema} == cols
        assert pq.read_metadata(p).num_rows == 0
    before = {p: p.stat().st_mtime_ns for p in expect}
    (sp / "stations.parquet").write_bytes(b"keep me")
    init_spatial(root)
    assert (sp / "stations.parquet").read_bytes() == b"keep me"
    assert all(p.stat().st_mtime_ns == before[p] for p in expect if p.name != "stations.parquet")
    assert list_layers(root) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    dest = tmp_path / "f.parquet"
    dest.write_bytes(b"old")

    def boom(p):
        Path(p).write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ST.atomic_write(dest, boom)
    assert dest.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["f.parquet"]


# ============================================================================ assign_points
# slow: the shapely brute force over 41 zones x 20k points, twice. In the fast run the same
# behaviour is covered by test_grid_path_on_many_points (both paths agree on 300k SF points),
# test_incidents_assigned_end_to_end[neighborhoods] (SF incidents vs a geopandas sjoin
# brute force), test_every_point_gets_the_square_that_holds_it (boundaries, both paths) and
# the squares / overlaps / edge-case tests below.
@pytest.mark.slow
def test_assign_points_matches_brute_force_on_sf(path_mode):
    zones = gpd.read_file(NHOODS)
    rng = np.random.default_rng(42)
    x0, y0, x1, y1 = zones.total_bounds
    n = 20_000
    x = rng.uniform(x0 - 0.01, x1 + 0.01, n)
    y = rng.uniform(y0 - 0.01, y1 + 0.01, n)
    # also points on polygon vertices (boundaries) and a few NaNs
    verts = shapely.get_coordinates(zones.geometry.values)[::97][:500]
    x = np.concatenate([x, verts[:, 0], [np.nan, -122.45, np.nan]])
    y = np.concatenate([y, verts[:, 1], [37.75, np.nan, np.nan]])
    got = assign_points(x, y, zones, id_col="nhood")
    expected = first_containing(zones.geometry.values, x, y)
    ids = zones["nhood"].to_numpy()
    boundary = shapely.union_all(zones.boundary.values)
    pts = shapely.points(np.where(np.isnan(x), 0, x), np.where(np.isnan(y), 0, y))
    near = shapely.dwithin(boundary, pts, 1e-9) & ~np.isnan(x) & ~np.isnan(y)
    far = ~near
    exp_ids = np.array([ids[i] if i >= 0 else None for i in expected], dtype=object)
    assert (got[far] == exp_ids[far]).all()
    assert near.sum() >= 400  # the vertices
    # points on a boundary: in the first zone (in order) whose closure holds them
    closed = first_containing(zones.geometry.values, x, y, shapely.intersects_xy)
    exp_closed = np.array([ids[i] if i >= 0 else None for i in closed], dtype=object)
    assert (got == exp_closed).all()
    assert got[-3:].tolist() == [None, None, None]
    assert 0.4 < np.mean(got != None) < 0.8  # noqa: E711


def test_assign_points_squares_boundaries(path_mode):
    # A B on the bottom row, C D on the top; unit squares from (0, 0) to (2, 2)
    zones = squares(2, size=1.0, x0=0.0, y0=0.0)
    pts = {
        (0.5, 0.5): "A",
        (1.5, 0.5): "B",
        (0.5, 1.5): "C",
        (1.5, 1.5): "D",
        (1.0, 0.5): "A",  # edge shared by A and B: the first in zone order
        (1.5, 1.0): "B",  # B / D
        (1.0, 1.0): "A",  # the corner of all four
        (0.0, 0.0): "A",
        (2.0, 2.0): "D",
        (2.0, 0.3): "B",  # outer boundary: closed zones
        (2.0000001, 0.5): None,
        (-1.0, -1.0): None,
        (0.5, 5.0): None,
        (np.nan, 0.5): None,
        (0.5, np.nan): None,
        (np.inf, 0.5): None,
    }
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    assert assign_points(x, y, zones, id_col="zone").tolist() == list(pts.values())
    # 2-D input keeps its shape
    assert assign_points(x.reshape(4, 4), y.reshape(4, 4), zones, "zone").shape == (4, 4)


def test_assign_points_overlaps_go_to_first_zone(path_mode):
    base = squares(2, size=1.0, x0=0.0, y0=0.0)
    inner = gpd.GeoDataFrame(
        {"zone": ["E"]}, geometry=[shapely.box(0.25, 0.25, 0.75, 0.75)], crs=4326
    )
    x, y = np.array([0.5, 0.9]), np.array([0.5, 0.9])
    after = gpd.GeoDataFrame(pd.concat([base, inner], ignore_index=True))
    before = gpd.GeoDataFrame(pd.concat([inner, base], ignore_index=True))
    assert assign_points(x, y, after, "zone").tolist() == ["A", "A"]
    assert assign_points(x, y, before, "zone").tolist() == ["E", "A"]


def test_assign_points_edge_cases(path_mode):
    zones = squares(2, size=1.0, x0=0.0, y0=0.0)
    assert assign_points([], [], zones, "zone").tolist() == []
    with pytest.raises(ZoneError, match="differ in shape"):
        assign_points([1.0, 2.0], [1.0], zones, "zone")
    with pytest.raises(
        ZoneError,
        match=r"`id_col` 'zone_id' is not a field .* did you mean "
        r"'zone'\?",
    ):
        assign_points([0.5], [0.5], zones)
    # a column named 7 (not "7"): an error naming the columns, not a TypeError
    int_named = gpd.GeoDataFrame({7: ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(ZoneError, match=r"`id_col` '7' is not a column .* \[7, 'geometry'\]"):
        assign_points([0.5], [0.5], int_named, "7")
    # missing geometries never match; projected zones are reprojected
    with_none = zones.copy()
    with_none.loc[0, "geometry"] = None
    assert assign_points([0.5, 1.5], [0.5, 0.5], with_none, "zone").tolist() == [None, "B"]
    sf = squares()
    got = assign_points([-122.445], [37.755], sf.to_crs(3857), "zone")
    assert got.tolist() == ["A"]
    idx = assign_point_index(np.array([0.5, 9.0]), np.array([0.5, 9.0]), zones.geometry.values)
    assert idx.dtype == np.int32 and idx.tolist() == [0, -1]


def test_grid_path_on_many_points():
    zones = gpd.read_file(NHOODS)
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = zones.total_bounds
    x = rng.uniform(x0, x1, 300_000)
    y = rng.uniform(y0, y1, 300_000)
    idx = assign_point_index(x, y, zones.geometry.values)  # grid (41 * 300k > threshold)
    ref = IX._assign_direct(x, y, np.asarray(zones.geometry.values), np.ones(len(zones), bool))
    assert (idx == ref).all()


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nx=st.integers(1, 6),
    ny=st.integers(1, 6),
    size=st.floats(1e-4, 10.0),
    x0=st.floats(-170.0, 100.0),
    y0=st.floats(-80.0, 20.0),
    free=st.lists(st.tuples(st.floats(-0.5, 7.0), st.floats(-0.5, 7.0)), max_size=40),
    on_lines=st.lists(
        st.tuples(st.integers(-1, 7), st.integers(-1, 7), st.sampled_from([0.0, 0.5])), max_size=20
    ),
    grid=st.booleans(),
)
def test_every_point_gets_the_square_that_holds_it(nx, ny, size, x0, y0, free, on_lines, grid):
    boxes = []
    for j in range(ny):
        for i in range(nx):
            boxes.append((x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size))
    geoms = np.array([shapely.box(*b) for b in boxes], dtype=object)
    xs = [x0 + fx * size for fx, _ in free]
    ys = [y0 + fy * size for _, fy in free]
    for i, j, off in on_lines:  # exactly on grid lines / corners, or cell centres
        xs.append(x0 + i * size if off == 0 else x0 + (i + off) * size)
        ys.append(y0 + j * size)
    x, y = np.array(xs, dtype=float), np.array(ys, dtype=float)
    b = np.array(boxes)
    inside = (
        (x[:, None] >= b[None, :, 0])
        & (x[:, None] <= b[None, :, 2])
        & (y[:, None] >= b[None, :, 1])
        & (y[:, None] <= b[None, :, 3])
    )
    expected = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    old = IX._DIRECT_MAX_WORK
    IX._DIRECT_MAX_WORK = 0 if grid else 10**18
    try:
        got = assign_point_index(x, y, geoms)
    finally:
        IX._DIRECT_MAX_WORK = old
    assert got.tolist() == expected.tolist()


# ============================================================================ SF, end to end
def test_sf_neighbourhoods_load(root):
    rep = load_zones(root, NHOODS, "neighborhoods", id_field="nhood")
    assert rep.n_zones == 41
    assert rep.overlaps == [] and rep.repaired == []
    assert rep.gaps_count == 0
    got = read_layer(root, "neighborhoods")
    assert got["zone_id"].tolist() == gpd.read_file(NHOODS)["nhood"].tolist()
    assert got["area_km2"].sum() == pytest.approx(
        sum(geodesic_km2(g) for g in got.geometry), rel=1e-4
    )
    assert 100 < got["area_km2"].sum() < 140


@pytest.fixture(scope="module")
def sf_store(tmp_path_factory):
    """A store holding the SFFD slice and the SF neighbourhoods layer."""
    d = tmp_path_factory.mktemp("sf") / "store"
    ingest(SF_SLICE, load_profile("sffd"), data_dir=d)
    store = Store(d)
    rep = load_zones(store.root, NHOODS, "neighborhoods", id_field="nhood")
    # a small layer that leaves most incidents outside: two boxes around the Civic Center
    boxes = gpd.GeoDataFrame(
        {"zone": ["west", "east"]},
        geometry=[
            shapely.box(-122.43, 37.77, -122.415, 37.785),
            shapely.box(-122.415, 37.77, -122.40, 37.785),
        ],
        crs=4326,
    )
    write(boxes, d.parent / "central", "geojson")
    load_zones(store.root, d.parent / "central" / "zones.geojson", "central", id_field="zone")
    return store, rep


def view_con(store: Store) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for stmt in store.view_sql() + spatial_view_sql(store.root):
        con.execute(stmt)
    return con


def expected_assignment(con, zones: gpd.GeoDataFrame):
    inc = con.execute(
        "select incident_id, latitude, longitude from incidents order by incident_id"
    ).pl()
    pts = gpd.GeoDataFrame(
        {"incident_id": inc["incident_id"].to_list()},
        geometry=gpd.points_from_xy(inc["longitude"].to_numpy(), inc["latitude"].to_numpy()),
        crs=4326,
    )
    z = zones[["zone_id", "geometry"]].reset_index(names="order")
    j = gpd.sjoin(pts, z, how="left", predicate="intersects")
    j = j.sort_values(["incident_id", "order"]).drop_duplicates("incident_id", keep="first")
    return inc, {
        i: (None if pd.isna(z) else z) for i, z in zip(j["incident_id"], j["zone_id"], strict=True)
    }


@pytest.mark.parametrize("layer", ["neighborhoods", "central"])
def test_incidents_assigned_end_to_end(sf_store, layer):
    store, rep = sf_store
    con = view_con(store)
    inc, expected = expected_assignment(con, read_layer(store.root, layer))
    n = inc.height
    assert n > 100
    if layer == "central":
        counts = assign_incidents(store.root, con, layers=[layer], h3_resolution=None)
        rep = Z.ZoneReport(
            layer,
            2,
            "EPSG:4326",
            incidents_assigned=counts[layer]["assigned"],
            incidents_outside=counts[layer]["outside"],
            incidents_unlocated=counts[layer]["no_coordinates"],
        )
        assert 0 < rep.incidents_assigned < rep.incidents_outside
    assert rep.incidents_assigned + rep.incidents_outside + rep.incidents_unlocated == n
    rows = con.execute(
        "select incident_id, zone_id from incident_zones where layer = $l", {"l": layer}
    ).fetchall()
    got = dict(rows)
    assert len(rows) == n and got == expected
    counts = dict(
        con.execute(
            "select zone_id, count(*) from incident_zones where layer = $l "
            "and zone_id is not null group by 1",
            {"l": layer},
        ).fetchall()
    )
    exp_counts: dict[str, int] = {}
    for z in expected.values():
        if z is not None:
            exp_counts[z] = exp_counts.get(z, 0) + 1
    assert counts == exp_counts
    assert rep.incidents_assigned == sum(exp_counts.values())
    out = outside_incidents(con, layer)
    exp_out = sorted(k for k, v in expected.items() if v is None)
    assert out["incident_id"].to_list() == exp_out
    assert out.columns == ["agency", "incident_id", "latitude", "longitude"]
    assert out["latitude"].null_count() == 0
    assert rep.incidents_outside == len(exp_out)


def test_assign_incidents_cells_and_layers(sf_store, tmp_path):
    store, _ = sf_store
    con = view_con(store)
    # a second layer: one box over the north-east of the city
    half = gpd.GeoDataFrame(
        {"zone": ["ne"]}, geometry=[shapely.box(-122.43, 37.77, -122.35, 37.84)], crs=4326
    )
    load_zones(store.root, write(half, tmp_path, "geojson"), "north_east", id_field="zone")
    counts = assign_incidents(store.root, con, h3_resolution=9)
    assert set(counts) == {"neighborhoods", "central", "north_east"}
    n = con.execute("select count(*) from incidents").fetchone()[0]
    for c in counts.values():
        assert c["assigned"] + c["outside"] + c["no_coordinates"] == n
    ne = con.execute(
        "select count(*) from incident_zones where layer = 'north_east' and zone_id = 'ne'"
    ).fetchone()[0]
    assert ne == counts["north_east"]["assigned"] > 0
    cells = con.execute(
        "select c.incident_id, c.resolution, c.h3_cell, i.latitude, "
        "i.longitude from incident_cells c join incidents i "
        "using (incident_id)"
    ).fetchall()
    assert len(cells) == n
    for _, res, cell, lat, lon in cells:
        assert res == 9
        assert cell == (h3.latlng_to_cell(lat, lon, 9) if lat is not None else None)
    types = dict(
        con.execute("select column_name, column_type from (describe incident_cells)").fetchall()
    )
    assert types == {
        "agency": "VARCHAR",
        "incident_id": "VARCHAR",
        "resolution": "TINYINT",
        "h3_cell": "VARCHAR",
    }
    # a removed layer loses its assignments on the next full run
    (store.root / "spatial/zones/north_east.parquet").unlink()
    counts = assign_incidents(store.root, con)
    assert set(counts) == {"neighborhoods", "central"}
    assert not (store.root / "spatial/incident_zones/north_east.parquet").exists()
    assert con.execute("select distinct layer from incident_zones order by 1").fetchall() == [
        ("central",),
        ("neighborhoods",),
    ]
    assert con.execute("select distinct resolution from incident_cells").fetchall() == [(8,)]


def test_assign_incidents_errors(sf_store):
    store, _ = sf_store
    con = view_con(store)
    with pytest.raises(
        ZoneError,
        match=r"`layer` 'nope' is not loaded; loaded layers: "
        r"central, neighborhoods",
    ):
        assign_incidents(store.root, con, layers=["nope"])
    with pytest.raises(ZoneError, match=r"`h3_resolution` must be an integer from 0 to 15"):
        assign_incidents(store.root, con, h3_resolution=16)
    with pytest.raises(StoreError, match=r"no `incidents` view"):
        assign_incidents(store.root, duckdb.connect())
    with pytest.raises(
        ZoneError,
        match=r"`layer` 'nope' is not loaded; loaded layers: "
        r"central, neighborhoods; load one with",
    ):
        outside_incidents(con, "nope")
    with pytest.raises(ZoneError, match=r"lacks the `zones`"):
        outside_incidents(duckdb.connect(), "neighborhoods")


def test_load_zones_without_a_store(tmp_path, root):
    rep = load_zones(root, write(squares(), tmp_path, "geojson"), "z", id_field="zone")
    assert (rep.incidents_assigned, rep.incidents_outside, rep.incidents_unlocated) == (0, 0, 0)
    assert not (root / "lake").exists()


# ============================================================================ views
def test_views_on_an_empty_spatial_folder(root):
    store = Store(root)
    init_spatial(store.root)
    con = view_con(store)
    for view in ("zones", "stations", "incident_zones", "incident_cells"):
        assert con.execute(f"select count(*) from {view}").fetchone()[0] == 0
    types = dict(con.execute("select column_name, column_type from (describe zones)").fetchall())
    assert types == {
        "layer": "VARCHAR",
        "agency": "VARCHAR",
        "zone_id": "VARCHAR",
        "name": "VARCHAR",
        "density_class": "VARCHAR",
        "area_km2": "DOUBLE",
        "geometry": "BLOB",
    }
    assert all(s.startswith("create or replace view") for s in spatial_view_sql(root))
    assert str(store.root) in spatial_view_sql(root)[0]
    # a store without incidents: assignment writes empty files
    load_zones(root, ZDATA / "demand_zones.geojson", "demand", id_field="zone_id")
    assert assign_incidents(store.root, con) == {
        "demand": {"assigned": 0, "outside": 0, "no_coordinates": 0}
    }
    assert con.execute("select count(*) from incident_cells").fetchone()[0] == 0
    assert con.execute("select count(*) from zones").fetchone()[0] == 4


def test_h3_cells_of_points_with_and_without_coordinates():
    lat = np.array([37.77, np.nan, 37.77, 91.0, 37.80, 37.77])
    lon = np.array([-122.42, -122.42, -122.42, -122.4, np.inf, -122.42])
    got = H3._h3_cells(lat, lon, 8).to_list()
    cell = h3.latlng_to_cell(37.77, -122.42, 8)
    assert got == [cell, None, cell, None, None, cell]
    assert H3._h3_cells(lat[1:2], lon[1:2], 8).to_list() == [None]
    assert H3._h3_cells(np.array([]), np.array([]), 8).to_list() == []


def test_zone_view_gives_wkb(sf_store):
    store, _ = sf_store
    con = view_con(store)
    rows = con.execute(
        "select zone_id, geometry, area_km2, layer from zones where layer = 'neighborhoods'"
    ).fetchall()
    layer = read_layer(store.root, "neighborhoods")
    assert [r[0] for r in rows] == layer["zone_id"].tolist()
    for (_, wkb, km2, _), g, a in zip(rows, layer.geometry, layer["area_km2"], strict=True):
        assert isinstance(wkb, bytes)
        assert shapely.equals_exact(shapely.from_wkb(wkb), g, tolerance=0)
        assert km2 == a
    assert "spatial" not in {
        r[0]
        for r in con.execute(
            "select extension_name from duckdb_extensions() where loaded"
        ).fetchall()
    }


# ============================================================================ spatial ext
def test_spatial_extension_views(sf_store):
    store, _ = sf_store
    con = view_con(store)
    if not load_spatial_extension(con):
        pytest.skip("duckdb-extension-spatial is not installed for this DuckDB")
    assert load_spatial_extension(con)  # already loaded: still True
    for stmt in spatial_geometry_sql():
        con.execute(stmt)
    rows = con.execute(
        "select zone_id, ST_Area(geom), "
        "ST_Area_Spheroid(ST_FlipCoordinates(geom)) / 1e6, area_km2 "
        "from zones_geo where layer = 'neighborhoods'"
    ).fetchall()
    assert len(rows) == 41
    for _, deg2, km2_spheroid, km2 in rows:
        assert deg2 > 0
        assert km2_spheroid == pytest.approx(km2, rel=1e-3)
    n = con.execute("select count(*) from incidents_geo where geom is not null").fetchone()[0]
    assigned = con.execute(
        "select count(*) from incident_zones where layer = 'neighborhoods' and zone_id is not null"
    ).fetchone()[0]
    joined = con.execute(
        "select count(distinct i.incident_id) from incidents_geo i join zones_geo z "
        "on ST_Intersects(z.geom, i.geom) where z.layer = 'neighborhoods'"
    ).fetchone()[0]
    assert joined == assigned and n >= assigned
    assert EXT.spatial_extension_path().name == "spatial.duckdb_extension"


def test_without_the_spatial_extension(sf_store, monkeypatch):
    store, _ = sf_store
    monkeypatch.setitem(sys.modules, "duckdb_extension_spatial", None)  # import fails
    assert EXT.spatial_extension_path() is None
    con = view_con(store)
    assert load_spatial_extension(con) is False
    assert (
        con.execute("select count(*) from zones where layer = 'neighborhoods'").fetchone()[0] == 41
    )
    assert con.execute("select typeof(geometry) from zones limit 1").fetchone()[0] == "BLOB"
    out = outside_incidents(con, "neighborhoods")
    assert out.columns == ["agency", "incident_id", "latitude", "longitude"]
    counts = assign_incidents(store.root, con, layers=["neighborhoods"])
    assert counts["neighborhoods"]["assigned"] > 0


def test_spatial_extension_version_mismatch(monkeypatch):
    monkeypatch.setattr(EXT, "_duckdb_version", lambda: "0.0.1")
    assert EXT.spatial_extension_path() is None
    assert load_spatial_extension(duckdb.connect()) is False


def test_geoparquet_with_another_geometry_column_name(tmp_path, root):
    p = tmp_path / "z.parquet"
    squares().rename_geometry("geom").to_parquet(p)
    assert load_zones(root, p, "z", id_field="zone").n_zones == 4
    assert list(read_layer(root, "z").columns)[-1] == "geometry"
