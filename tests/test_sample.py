"""Tests of the synthetic sample city (dispatch_analytics.sample)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from dispatch_analytics.errors import DispatchError
from dispatch_analytics.ingest.profiles import load_profile
from dispatch_analytics.sample import city as sample
from dispatch_analytics.sample.city import PLANTED_REASONS, SampleCity, SampleError, generate_city
from dispatch_analytics.sample.geography import _LOCAL_CRS, _build_geography
from dispatch_analytics.sample.zonetable import _ZoneTable

N = 2000
SEED = 7
FMT = "%m/%d/%Y %H:%M:%S"
TZ = zoneinfo.ZoneInfo("America/Chicago")
TIME_COLS = ["T_RCVD", "T_DISP", "T_ENRT", "T_ARRV", "T_TRANS", "T_HOSP", "T_CLR"]
RESPONSE_COLS = ["T_RCVD", "T_DISP", "T_ENRT", "T_ARRV"]
FALL_BACK = "11/03/2024"
SPRING = "03/10/2024"


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> SampleCity:
    return generate_city(tmp_path_factory.mktemp("city"), n_incidents=N, seed=SEED)


@pytest.fixture(scope="module")
def df(city) -> pd.DataFrame:
    return pd.read_csv(city.incidents_csv, dtype=str, keep_default_na=False)


def _naive(df: pd.DataFrame) -> pd.DataFrame:
    """Time columns parsed as naive local datetimes (NaT when blank or unparseable)."""
    return pd.DataFrame(
        {
            c: pd.to_datetime(df[c].where(df[c] != ""), format=FMT, errors="coerce")
            for c in TIME_COLS
        }
    )


def _fold_resolved_utc(values: list[str]) -> list[float] | None:
    """UTC seconds of a row's local readings, choosing for each ambiguous reading the
    earliest offset that keeps the stages in order; None if no choice keeps the order."""
    out, prev = [], -np.inf
    for v in values:
        if not v:
            continue
        naive = dt.datetime.strptime(v, FMT)
        cands = sorted({naive.replace(tzinfo=TZ, fold=f).timestamp() for f in (0, 1)})
        ok = [c for c in cands if c >= prev]
        if not ok:
            return None
        prev = ok[0]
        out.append(prev)
    return out


def _nonexistent(values: pd.Series) -> pd.Series:
    """True where a naive local reading does not exist in America/Chicago."""
    res = pd.Series(False, index=values.index)
    for i, v in values.dropna().items():
        aware = v.to_pydatetime().replace(tzinfo=TZ)
        back = aware.astimezone(dt.UTC).astimezone(TZ).replace(tzinfo=None)
        res[i] = back != v.to_pydatetime()
    return res


def _problems(df: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per reject reason, detected from the CSV text alone."""
    naive = _naive(df)
    p = pd.DataFrame(index=df.index)
    p["duplicate_row"] = df.duplicated(keep="first")
    p["missing_id"] = (df["INC_NO"] == "") | (df["UNIT"] == "")
    unparseable = np.zeros(len(df), dtype=bool)
    for c in TIME_COLS:
        unparseable |= ((df[c] != "") & naive[c].isna()).to_numpy()
    p["unparseable_time"] = unparseable
    gap = np.zeros(len(df), dtype=bool)
    on_spring = df[TIME_COLS].apply(lambda s: s.str.startswith(SPRING)).any(axis=1)
    for c in TIME_COLS:
        gap |= (
            _nonexistent(naive.loc[on_spring, c]).reindex(df.index, fill_value=False)
        ).to_numpy()
    p["nonexistent_local_time"] = gap

    # Stage order: naive wall-clock order is the true order except on the fall-back night.
    arr = naive.to_numpy(dtype="datetime64[s]").astype("float64")
    arr[naive.isna().to_numpy()] = np.nan
    run_max = np.fmax.accumulate(np.where(np.isnan(arr), -np.inf, arr), axis=1)
    disorder = np.any(arr[:, 1:] < run_max[:, :-1], axis=1)
    fall = df[TIME_COLS].apply(lambda s: s.str.startswith(FALL_BACK)).any(axis=1).to_numpy()
    for i in np.nonzero(fall & ~unparseable)[0]:
        disorder[i] = _fold_resolved_utc(df.loc[i, TIME_COLS].tolist()) is None
    p["stage_order"] = disorder & ~unparseable

    resp = arr[:, : len(RESPONSE_COLS)]
    longest = np.zeros(len(df))
    for i in range(1, resp.shape[1]):
        prev = np.fmax.accumulate(np.where(np.isnan(resp[:, :i]), -np.inf, resp[:, :i]), axis=1)
        gaps = resp[:, i] - prev[:, -1]
        longest = np.fmax(longest, np.where(np.isfinite(gaps), gaps, 0.0))
    p["interval_too_long"] = longest > 21600

    blank = (df["LAT"] == "") | (df["LON"] == "")
    lat = pd.to_numeric(df["LAT"].where(~blank), errors="coerce")
    lon = pd.to_numeric(df["LON"].where(~blank), errors="coerce")
    p["missing_coordinates"] = blank
    p["zero_coordinates"] = (lat == 0) & (lon == 0)
    p["coordinates_out_of_range"] = (lat.abs() > 90) | (lon.abs() > 180)
    return p[list(PLANTED_REASONS)]


@pytest.fixture(scope="module")
def problems(df) -> pd.DataFrame:
    return _problems(df)


@pytest.fixture(scope="module")
def clean(df, problems) -> pd.DataFrame:
    return df[~problems.any(axis=1)]


# ----------------------------------------------------------------------------- files
def test_files_and_counts(city, df):
    for path in (
        city.incidents_csv,
        city.mapping_toml,
        city.stations_geojson,
        city.station_areas_geojson,
        city.battalions_geojson,
        city.readme,
    ):
        assert path.is_file() and path.parent == city.out_dir
    assert city.mapping_toml.name == "sample_city.toml"
    assert list(df.columns) == list(sample.CSV_COLUMNS)
    assert len(df) == city.n_rows
    assert city.n_incidents == N
    assert df.loc[df["INC_NO"] != "", "INC_NO"].nunique() == N
    assert df["INC_NO"].str.fullmatch(r"(\d\d-\d{6})?").all()
    assert df["UNIT"].str.fullmatch(r"([EMT]\d\d|B\d)?").all()
    assert set(df["PRI"]) <= {"1", "2", "3"}
    assert set(df["UNIT_TYPE"]) == {"ENGINE", "MEDIC", "TRUCK", "CHIEF"}


def test_deterministic(tmp_path):
    a = generate_city(tmp_path / "a", n_incidents=300, seed=3)
    b = generate_city(tmp_path / "b", n_incidents=300, seed=3)
    c = generate_city(tmp_path / "c", n_incidents=300, seed=4)
    for name in (
        "incidents_csv",
        "mapping_toml",
        "stations_geojson",
        "station_areas_geojson",
        "battalions_geojson",
        "readme",
    ):
        assert getattr(a, name).read_bytes() == getattr(b, name).read_bytes(), name
    assert a.incidents_csv.read_bytes() != c.incidents_csv.read_bytes()
    # Regenerating into an existing directory overwrites the files identically.
    again = generate_city(tmp_path / "a", n_incidents=300, seed=3)
    assert again.incidents_csv.read_bytes() == b.incidents_csv.read_bytes()
    assert again.station_areas_geojson.read_bytes() == b.station_areas_geojson.read_bytes()


# ----------------------------------------------------------------------------- geography
def test_station_areas_cover_city_without_overlaps(city):
    geo = _build_geography(np.random.default_rng(SEED))
    areas = gpd.read_file(city.station_areas_geojson)
    bats = gpd.read_file(city.battalions_geojson)
    stations = gpd.read_file(city.stations_geojson)
    assert areas.crs.to_epsg() == 4326
    assert len(stations) == len(areas) >= 10
    assert list(areas["station_id"]) == list(stations["station_id"])
    assert areas.is_valid.all() and bats.is_valid.all()

    local_areas = areas.to_crs(_LOCAL_CRS)
    union = local_areas.union_all()
    boundary_area = geo.boundary.area
    assert 150e6 < boundary_area < 320e6  # roughly 20 km x 15 km, irregular
    minx, miny, maxx, maxy = union.bounds
    assert 17_000 < maxx - minx < 23_000 and 12_000 < maxy - miny < 18_000
    assert union.area == pytest.approx(boundary_area, rel=1e-4)
    assert shapely.symmetric_difference(union, geo.boundary).area < 1e-4 * boundary_area
    assert local_areas.area.sum() == pytest.approx(union.area, rel=1e-6)  # no overlaps
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # no gaps

    # Each station lies in its own area; areas and stations agree on the battalion.
    own = shapely.contains(areas.geometry.values, stations.geometry.values)
    assert own.all()
    assert list(areas["battalion_id"]) == list(stations["battalion_id"])

    # Battalions are the unions of their station areas.
    assert len(bats) == 3 and set(bats["battalion_id"]) == set(areas["battalion_id"])
    local_bats = bats.to_crs(_LOCAL_CRS).set_index("battalion_id")
    for bid, group in local_areas.groupby("battalion_id"):
        diff = shapely.symmetric_difference(group.union_all(), local_bats.geometry[bid])
        assert diff.area < 1e-5 * boundary_area
    assert local_bats.area.sum() == pytest.approx(boundary_area, rel=1e-4)


def test_units_per_station(city, df):
    stations = gpd.read_file(city.stations_geojson).set_index("station_id")
    units = {sid: set(u.split(",")) for sid, u in stations["units"].items()}
    assert all(f"E{sid[1:]}" in u for sid, u in units.items())
    n_medic = sum(any(x.startswith("M") for x in u) for u in units.values())
    n_truck = sum(any(x.startswith("T") for x in u) for u in units.values())
    n_chief = sum(any(x.startswith("B") for x in u) for u in units.values())
    assert n_medic > len(units) / 2 and 2 <= n_truck < len(units) / 2 and n_chief == 3
    rows = df[(df["UNIT"] != "") & (df["STATION"] != "")]
    for unit, station in zip(rows["UNIT"], rows["STATION"], strict=True):
        assert unit in units[station]


def test_incidents_inside_city(city, clean):
    union = gpd.read_file(city.station_areas_geojson).union_all()
    lat = clean["LAT"].astype(float).to_numpy()
    lon = clean["LON"].astype(float).to_numpy()
    assert shapely.contains_xy(union, lon, lat).all()
    # Hotspots: incidents are clearly denser downtown than on average.
    areas = gpd.read_file(city.station_areas_geojson)
    per_area = [shapely.contains_xy(g, lon, lat).sum() for g in areas.geometry]
    density = np.array(per_area) / areas.to_crs(_LOCAL_CRS).area.to_numpy()
    assert density[0] > 1.5 * np.median(density)  # S01 is downtown


# ----------------------------------------------------------------------------- intervals
def _seconds(a: pd.Series, b: pd.Series) -> np.ndarray:
    return (
        (pd.to_datetime(b, format=FMT) - pd.to_datetime(a, format=FMT))
        .dt.total_seconds()
        .to_numpy()
    )


def _off_dst_nights(frame: pd.DataFrame) -> pd.DataFrame:
    on = frame[TIME_COLS].apply(lambda s: s.str.startswith((FALL_BACK, SPRING))).any(axis=1)
    return frame[~on]


def test_travel_time_grows_with_distance(city, clean):
    stations = gpd.read_file(city.stations_geojson).set_index("station_id")
    rows = _off_dst_nights(clean)
    rows = rows[(rows["T_ENRT"] != "") & (rows["T_ARRV"] != "")]
    travel = _seconds(rows["T_ENRT"], rows["T_ARRV"])
    st = stations.geometry.loc[rows["STATION"]]
    geod = pyproj.Geod(ellps="WGS84")
    _, _, dist = geod.inv(
        st.x.to_numpy(), st.y.to_numpy(), rows["LON"].astype(float), rows["LAT"].astype(float)
    )
    assert np.corrcoef(dist, travel)[0, 1] > 0.6
    assert 180 < np.median(travel) < 720
    near, far = travel[dist < 2000], travel[dist > 5000]
    assert np.median(far) > 2 * np.median(near)


def test_intervals_are_realistic(clean):
    rows = _off_dst_nights(clean)
    first = rows.drop_duplicates("INC_NO")
    assert 35 < np.median(_seconds(first["T_RCVD"], first["T_DISP"])) < 70
    moving = rows[rows["T_ENRT"] != ""]
    turnout = _seconds(moving["T_DISP"], moving["T_ENRT"])
    fire = moving["NATURE"].isin(sample.FIRE_TYPES).to_numpy()
    assert 45 < np.median(turnout[~fire]) < 85
    assert 60 < np.median(turnout[fire]) < 100
    assert np.median(turnout[fire]) > np.median(turnout[~fire])
    # Cancelled units: no arrival but a clear time.
    cancelled = rows[(rows["T_ARRV"] == "") & (rows["T_CLR"] != "")]
    assert 0.01 < len(cancelled) / len(rows) < 0.12
    assert (cancelled[["T_TRANS", "T_HOSP"]] == "").all().all()
    # About 60 % of EMS calls transport (first medic on scene).
    ems_medic = rows[rows["NATURE"].isin(sample.EMS_TYPES) & (rows["UNIT_TYPE"] == "MEDIC")]
    ems_medic = ems_medic[ems_medic["T_ARRV"] != ""].drop_duplicates("INC_NO")
    share = (ems_medic["T_TRANS"] != "").mean()
    assert 0.5 < share < 0.7
    transported = ems_medic[ems_medic["T_TRANS"] != ""]
    assert (transported["T_HOSP"] != "").all()


def test_call_mix_and_units(df, clean):
    firsts = clean.drop_duplicates("INC_NO")
    share = (
        firsts["NATURE"]
        .map(
            lambda t: "ems" if t in sample.EMS_TYPES else "fire" if t in sample.FIRE_TYPES else "o"
        )
        .value_counts(normalize=True)
    )
    assert 0.58 < share["ems"] < 0.72 and 0.14 < share["fire"] < 0.26
    per_inc = clean.groupby("INC_NO")
    kinds = per_inc["UNIT_TYPE"].apply(set)
    nature = per_inc["NATURE"].first()
    pri = per_inc["PRI"].first()
    ems = nature.isin(sample.EMS_TYPES)
    assert kinds[ems].map(lambda k: "MEDIC" in k).mean() > 0.95
    p1 = ems & (pri == "1")
    assert kinds[p1].map(lambda k: "ENGINE" in k).mean() > 0.9
    structure = nature == "Structure Fire"
    if structure.any():
        assert kinds[structure].map(lambda k: {"ENGINE", "TRUCK"} <= k).mean() > 0.8
    sizes = per_inc.size()[nature.isin(sample.FIRE_TYPES)]
    assert sizes.between(1, 4).all() and sizes.mean() >= 1.8
    # One row per unit per incident (planted duplicates aside).
    ids = df[(df["INC_NO"] != "") & (df["UNIT"] != "")]
    ids = ids[~ids.duplicated(keep="first")]
    assert not ids.duplicated(["INC_NO", "UNIT"]).any()


def test_first_due_unit_sometimes_busy(city, clean):
    areas = gpd.read_file(city.station_areas_geojson)
    firsts = clean[clean["UNIT_TYPE"] == "ENGINE"].drop_duplicates("INC_NO")
    lon, lat = firsts["LON"].astype(float), firsts["LAT"].astype(float)
    area_of = np.full(len(firsts), "", dtype=object)
    for sid, geom in zip(areas["station_id"], areas.geometry, strict=True):
        area_of[shapely.contains_xy(geom, lon, lat)] = sid
    own = (area_of == firsts["STATION"].to_numpy()).mean()
    assert 0.75 < own < 0.93


# ----------------------------------------------------------------------------- DST
def test_zone_conversion_is_exact():
    zone = zoneinfo.ZoneInfo("America/Chicago")
    t0 = int(dt.datetime(2024, 1, 1, tzinfo=zone).timestamp())
    zt = _ZoneTable(zone, t0, t0 + 366 * 86400)
    spring = dt.datetime(2024, 3, 10, 8, tzinfo=dt.UTC).timestamp()
    fall = dt.datetime(2024, 11, 3, 7, tzinfo=dt.UTC).timestamp()
    assert list(zt.transitions) == [spring, fall]
    t = np.array([fall - 1800, fall + 1800, spring - 1, spring])
    local = [dt.datetime.fromtimestamp(v, dt.UTC).strftime("%H:%M:%S") for v in zt.local(t)]
    assert local == ["01:30:00", "01:30:00", "01:59:59", "03:00:00"]


def test_dst_nights_have_clean_rows(city, df, clean, problems):
    for day in (SPRING, FALL_BACK):
        night = clean[clean["T_RCVD"].str.match(rf"{day} 0[12]:")]
        assert night["INC_NO"].nunique() >= 3, day
    # Spring-forward: no clean reading inside the 02:00-02:59 gap.
    for c in TIME_COLS:
        assert not clean[c].str.startswith(f"{SPRING} 02:").any()
    gap = df[problems["nonexistent_local_time"]]
    assert (gap["T_RCVD"].str.startswith(f"{SPRING} 02:")).all()
    # Fall-back: every clean row on that night has a consistent reading of its times, and
    # the first and second 01:xx hours are both used.
    fall = clean[clean[TIME_COLS].apply(lambda s: s.str.startswith(FALL_BACK)).any(axis=1)]
    assert len(fall) > 0
    for values in fall[TIME_COLS].itertuples(index=False):
        utc = _fold_resolved_utc(list(values))
        assert utc is not None and utc[-1] - utc[0] < 12 * 3600
    assert fall["T_RCVD"].str.startswith(f"{FALL_BACK} 01:").sum() >= 2
    text = city.readme.read_text()
    assert "spring-forward" in text and "fall-back" in text


# ----------------------------------------------------------------------------- dirty rows
def test_planted_rows_have_exactly_their_problem(city, df, problems):
    assert set(city.planted) == set(PLANTED_REASONS)
    assert problems.sum(axis=1).max() <= 1  # each planted row has one unambiguous problem
    detected = problems.sum().to_dict()
    assert detected == city.planted
    for reason, count in city.planted.items():
        assert count >= (1 if reason == "nonexistent_local_time" else 5), reason
    share = sum(city.planted.values()) / city.n_rows
    assert share == pytest.approx(city.planted_share)
    assert 0.015 < share < 0.025
    # Duplicates copy clean rows and sit close to their source.
    dups = np.nonzero(problems["duplicate_row"].to_numpy())[0]
    for i in dups:
        src = df.iloc[max(0, i - 6) : i]
        assert (src == df.iloc[i]).all(axis=1).any()


def test_readme_documents_planted_rows(city):
    text = city.readme.read_text()
    assert "synthetic" in text.lower()
    for reason, count in city.planted.items():
        assert f"| `{reason}` | {count} |" in text
    assert f"{100 * city.planted_share:.2f} %" in text
    for col in sample.CSV_COLUMNS:
        assert f"`{col}`" in text


def test_mapping_loads(city, df):
    prof = load_profile(city.mapping_toml)
    assert prof.name == "sample_city" and prof.grain == "unit"
    assert prof.timezone == "America/Chicago"
    assert prof.timestamp_formats == (FMT,)
    assert prof.max_interval_s == 21600
    assert prof.columns["incident_id"] == "INC_NO"
    assert prof.columns["on_scene_at"] == "T_ARRV"
    assert set(prof.columns.values()) == set(df.columns)
    expected = {t: "ems" for t in sample.EMS_TYPES}
    expected |= {t: "fire" for t in sample.FIRE_TYPES}
    expected |= {t: "other" for t in sample.OTHER_TYPES}
    for nature in df["NATURE"].unique():
        assert prof.category_of(nature) == expected[nature]


# ----------------------------------------------------------------------------- edge cases
def test_single_incident(tmp_path):
    one = generate_city(tmp_path, n_incidents=1, seed=0)
    frame = pd.read_csv(one.incidents_csv, dtype=str, keep_default_na=False)
    assert one.n_incidents == 1 and one.n_rows == len(frame) >= 1
    assert frame["INC_NO"].nunique() == 1
    assert sum(one.planted.values()) == 0
    assert not _problems(frame).any().any()
    load_profile(one.mapping_toml)


def test_short_period_without_dst(tmp_path):
    city = generate_city(tmp_path, n_incidents=500, seed=1, start="2024-06-01", days=30)
    frame = pd.read_csv(city.incidents_csv, dtype=str, keep_default_na=False)
    assert city.planted["nonexistent_local_time"] == 0
    received = pd.to_datetime(frame["T_RCVD"], format=FMT, errors="coerce").dropna()
    assert received.min() >= pd.Timestamp("2024-06-01")
    assert received.max() < pd.Timestamp("2024-07-01")
    assert _problems(frame).sum().to_dict() == city.planted


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_incidents": 0}, r"`incidents` must be >= 1, got 0"),
        ({"n_incidents": -5}, r"`incidents` must be >= 1, got -5"),
        ({"n_incidents": 2.5}, r"`incidents` must be an integer, got 2.5"),
        ({"n_incidents": 10**9}, rf"`incidents` must be <= {sample.MAX_INCIDENTS}, got 1000000000"),
        ({"seed": -1}, r"`seed` must be a non-negative integer, got -1"),
        ({"days": 0}, r"`days` must be >= 1, got 0"),
        ({"start": "soon"}, r"`start` must be a date like '2024-01-01', got 'soon'"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, message):
    args = {"n_incidents": 10} | kwargs
    with pytest.raises(SampleError, match=message) as info:
        generate_city(tmp_path / "out", **args)
    assert isinstance(info.value, DispatchError) and isinstance(info.value, ValueError)
    assert not (tmp_path / "out").exists()
