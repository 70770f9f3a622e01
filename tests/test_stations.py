"""Stations: loading points from every format, id rules, reprojection, errors, the view."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import SF_SLICE, write_csv

from dispatch_analytics import IngestError, Store, ingest, load_profile
from dispatch_analytics.spatial.stations import StationError, load_stations, read_stations
from dispatch_analytics.store.spatial_tables import init_spatial, spatial_view_sql

ROOT = Path(__file__).resolve().parents[1]
SF_STATIONS = ROOT / "sample_data" / "sf_week" / "sf_fire_stations.geojson"
CITY_STATIONS = ROOT / "sample_data" / "city" / "stations.geojson"


def points(ids=("S1", "S2", "S3"), crs="EPSG:4326") -> gpd.GeoDataFrame:
    xs = [-122.41, -122.42, -122.43][: len(ids)]
    ys = [37.77, 37.78, 37.79][: len(ids)]
    return gpd.GeoDataFrame(
        {"station_id": list(ids), "name": [f"Station {i}" for i in ids]},
        geometry=gpd.points_from_xy(xs, ys),
        crs=crs,
    )


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


def test_sf_stations_with_id_regex_and_zero_pad(root):
    rep = load_stations(root, SF_STATIONS, id_field="common_name", id_regex=r"#(\d+)", zero_pad=2)
    assert rep.n_stations == 42 and rep.id_field == "common_name"
    expected = {f"{n:02d}" for n in [*range(1, 27), 28, 29, *range(31, 35), *range(36, 45), 48]}
    assert set(rep.station_ids) == expected
    got = read_stations(root)
    assert list(got.columns) == [
        "agency",
        "station_id",
        "name",
        "latitude",
        "longitude",
        "geometry",
    ]
    assert got.crs.to_epsg() == 4326
    row = got[got["station_id"] == "15"].iloc[0]
    assert row["name"] == "Fire Station #15"
    assert (row["longitude"], row["latitude"]) == pytest.approx((-122.452927, 37.723489), abs=1e-6)
    assert got[got["station_id"] == "07"].iloc[0]["name"].startswith("Fire Station #7 - Div")
    assert (got.geometry.x == got["longitude"]).all() and (got.geometry.y == got["latitude"]).all()
    assert b"geo" in pq.read_schema(root / "spatial/stations.parquet").metadata
    assert "42 stations from" in rep.summary()


def test_guessed_fields(root):
    rep = load_stations(root, CITY_STATIONS)
    assert (rep.id_field, rep.name_field, rep.n_stations) == ("station_id", "name", 12)
    assert read_stations(root)["station_id"].tolist()[:2] == ["S01", "S02"]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "zip", "parquet"])
def test_vector_formats(tmp_path, root, fmt):
    src = points()
    d = tmp_path / "in"
    d.mkdir()
    if fmt == "parquet":
        p = d / "s.parquet"
        src.to_parquet(p)
    elif fmt == "zip":
        import zipfile

        src.to_file(d / "s.shp")
        p = tmp_path / "s.zip"
        with zipfile.ZipFile(p, "w") as zf:
            for f in d.iterdir():
                zf.write(f, f.name)
    else:
        p = d / f"s.{fmt}"
        src.to_file(p)
    rep = load_stations(root, p)
    assert rep.station_ids == ["S1", "S2", "S3"]
    got = read_stations(root)
    assert got["latitude"].tolist() == pytest.approx([37.77, 37.78, 37.79], abs=1e-12)


def test_projected_file_is_reprojected(tmp_path, root):
    src = points()
    p = tmp_path / "s.gpkg"
    src.to_crs(2227).to_file(p)
    rep = load_stations(root, p, id_field="station_id")
    assert rep.crs_in == "EPSG:2227"
    got = read_stations(root)
    assert got["longitude"].tolist() == pytest.approx(src.geometry.x.tolist(), abs=1e-9)
    assert got["latitude"].tolist() == pytest.approx(src.geometry.y.tolist(), abs=1e-9)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs_needs_crs(tmp_path, root):
    p = tmp_path / "s.shp"
    points().to_crs(3857).set_crs(None, allow_override=True).to_file(p)
    with pytest.raises(StationError, match=r"`crs`: .*s.shp has no CRS; pass --crs EPSG:XXXX"):
        load_stations(root, p)
    rep = load_stations(root, p, crs="EPSG:3857")
    assert rep.crs_in == "EPSG:3857"
    assert read_stations(root)["latitude"].tolist() == pytest.approx([37.77, 37.78, 37.79])


def test_csv_lat_lon(tmp_path, root):
    p = write_csv(
        tmp_path / "s.csv",
        ["Station", "Lat", "Lon", "Label"],
        [["5", "37.77", "-122.41", "Five"], ["12", "37.78", "-122.42", "Twelve"]],
    )
    rep = load_stations(root, p, zero_pad=2)
    assert rep.id_field == "Station" and rep.station_ids == ["05", "12"]
    got = read_stations(root)
    assert got["longitude"].tolist() == [-122.41, -122.42]
    # projected x / y columns with a CRS
    xy = points().to_crs(3857)
    p2 = write_csv(
        tmp_path / "xy.csv",
        ["id", "x", "y"],
        [[i, x, y] for i, x, y in zip(xy["station_id"], xy.geometry.x, xy.geometry.y, strict=True)],
    )
    rep = load_stations(root, p2, crs="EPSG:3857")
    assert rep.crs_in == "EPSG:3857"
    assert read_stations(root)["latitude"].tolist() == pytest.approx([37.77, 37.78, 37.79])


def test_csv_problems(tmp_path, root):
    p = write_csv(tmp_path / "s.csv", ["station_id", "lat", "where"], [["1", "37.7", "x"]])
    with pytest.raises(
        StationError,
        match=r"no `lon_field` column found in .*s.csv \(tried "
        r"longitude, lon.*\); pass --lon-field NAME",
    ):
        load_stations(root, p)
    with pytest.raises(
        StationError,
        match=r"`lon_field` 'wher' is not a field .*did you mean "
        r"'where'\?",
    ):
        load_stations(root, p, lon_field="wher")
    bad = write_csv(
        tmp_path / "b.csv",
        ["station_id", "lat", "lon"],
        [["1", "37.7", "-122.4"], ["2", "n/a", "-122.4"]],
    )
    with pytest.raises(StationError, match=r"stations without a location: '2'"):
        load_stations(root, bad)
    with pytest.raises(IngestError, match=r"nope.csv: no such file"):
        load_stations(root, tmp_path / "nope.csv")


def test_every_problem_listed_once(tmp_path, root):
    gdf = gpd.GeoDataFrame(
        {"station_id": ["A", "A", None, "B", "C"]},
        geometry=[
            shapely.Point(0, 0),
            shapely.Point(1, 1),
            shapely.Point(2, 2),
            shapely.box(0, 0, 1, 1),
            None,
        ],
        crs=4326,
    )
    p = tmp_path / "s.parquet"
    gdf.to_parquet(p)
    with pytest.raises(StationError) as ei:
        load_stations(root, p, zero_pad=0)
    probs = ei.value.problems
    assert str(ei.value).startswith("cannot load stations from ")
    assert len(probs) == 5
    for pattern in [
        r"`zero_pad` must be an integer from 1 to 32, got 0",
        r"blank `id_field` 'station_id' in 1 station\(s\): feature 3 ",
        r"duplicate `id_field` 'station_id' values: 'A' \(features 1, 2\)",
        r"stations without a location: 'C'",
        r"stations must be points; these are not: 'B' \(Polygon\)",
    ]:
        assert any(re.search(pattern, q) for q in probs), pattern


def test_id_field_problems(tmp_path, root):
    with pytest.raises(
        StationError,
        match=r"`id_field` 'common' is not a field of .*available "
        r"fields: index, facility_id, common_name.*did you "
        r"mean 'common_name'\?",
    ):
        load_stations(root, SF_STATIONS, id_field="common")
    gdf = points().rename(columns={"station_id": "code", "name": "label"})
    p = tmp_path / "s.geojson"
    gdf.to_file(p)
    with pytest.raises(
        StationError,
        match=r"no station id field found in .* pass --id-field "
        r"FIELD; its fields: code, label",
    ):
        load_stations(root, p)
    assert load_stations(root, p, id_field="code", name_field="label").name_field == "label"
    with pytest.raises(StationError, match=r"`name_field` 'nam' is not a field"):
        load_stations(root, p, id_field="code", name_field="nam")


def test_id_regex_problems(root):
    with pytest.raises(StationError, match=r"`id_regex` '#\(\\\\d\+' is not a regular expression"):
        load_stations(root, SF_STATIONS, id_field="common_name", id_regex=r"#(\d+")
    with pytest.raises(
        StationError,
        match=r"`id_regex` 'Station #\(1\\\\d\)\$' matches nothing "
        r"in `common_name` of 'Fire Station #24' \(feature 2\)",
    ):
        load_stations(root, SF_STATIONS, id_field="common_name", id_regex=r"Station #(1\d)$")
    # "#5" and "#5 - Division..." style collisions are duplicates after extraction
    with pytest.raises(StationError, match=r"duplicate `id_field` 'common_name' values: "):
        load_stations(root, SF_STATIONS, id_field="common_name", id_regex=r"Fire Station")


def test_empty_file(tmp_path, root):
    p = tmp_path / "e.geojson"
    p.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(StationError, match=r"e.geojson has no features"):
        load_stations(root, p, id_field="station_id")


def test_read_stations_before_any_load(root):
    assert len(read_stations(root)) == 0
    init_spatial(root)
    empty = read_stations(root)
    assert len(empty) == 0 and list(empty.columns) == [
        "agency",
        "station_id",
        "name",
        "latitude",
        "longitude",
        "geometry",
    ]


def test_loading_again_replaces(root):
    load_stations(root, SF_STATIONS, id_field="common_name", id_regex=r"#(\d+)")
    load_stations(root, CITY_STATIONS)
    assert len(read_stations(root)) == 12
    assert not [p for p in (root / "spatial").iterdir() if p.name.endswith(".tmp")]


def test_station_view_and_incident_station_check(tmp_path):
    d = tmp_path / "store"
    ingest(SF_SLICE, load_profile("sffd"), data_dir=d)
    store = Store(d)
    rep = load_stations(
        store.root, SF_STATIONS, id_field="common_name", id_regex=r"#(\d+)", zero_pad=2
    )
    con = duckdb.connect()
    for stmt in store.view_sql() + spatial_view_sql(store.root):
        con.execute(stmt)
    rows = con.execute("select station_id, name, latitude, longitude from stations").fetchall()
    assert len(rows) == 42 and ("15", "Fire Station #15") in {r[:2] for r in rows}
    used = {
        r[0]
        for r in con.execute(
            "select distinct station_id from responses_all where station_id is not null"
        ).fetchall()
    }
    assert rep.incident_stations_missing == sorted(used - set(rep.station_ids))
    joined = con.execute(
        "select count(*) from incidents i join stations s using (station_id)"
    ).fetchone()[0]
    assert joined > 0
    assert np.isfinite([r[2] for r in rows]).all()


def test_geoparquet_with_another_geometry_column_name(tmp_path, root):
    p = tmp_path / "s.parquet"
    points().rename_geometry("geom").to_parquet(p)
    rep = load_stations(root, p)
    assert rep.station_ids == ["S1", "S2", "S3"]
    assert read_stations(root).geometry.name == "geometry"
