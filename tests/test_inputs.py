"""Input formats: delimiters, encodings, gzip, Parquet, JSON lines, globs, odd headers."""

import gzip
import json

import polars as pl
import pytest
from conftest import UNIT_HEADER, UNIT_TOML, unit_row, write_csv, write_toml

from dispatch_analytics import IngestError, Store, ingest, load_profile

ROWS = [unit_row(inc="A", nature="Médical"), unit_row(inc="B", unit="E2", nature="Structure Fire")]


def _check(data_dir, n=2):
    df = Store(data_dir).sql("select * from responses order by incident_id")
    assert df.height == n
    return df


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_any_delimiter_sniffed(tmp_path, data_dir, unit_toml, delimiter):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, ROWS, delimiter=delimiter)
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.files[0].delimiter == delimiter
    assert report.rows_accepted == 2


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_encodings(tmp_path, data_dir, unit_toml, encoding):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, ROWS, encoding=encoding)
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 2
    df = _check(data_dir)
    assert df["call_type"][0] == "Médical"
    assert df["call_category"].to_list() == ["other", "fire"]


def test_cp1252_specific_characters(tmp_path, data_dir, unit_toml):
    rows = [unit_row(inc="A", nature="Fall \u2013 \u201cground level\u201d")]
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, rows, encoding="cp1252")
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.files[0].encoding == "cp1252"
    assert _check(data_dir, 1)["call_type"][0] == "Fall \u2013 \u201cground level\u201d"


def test_quoted_fields_with_delimiters_and_newlines(tmp_path, data_dir, unit_toml):
    rows = [unit_row(inc="A", nature="Fire, brush\nsecond line")]
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, rows)
    ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert _check(data_dir, 1)["call_type"][0] == "Fire, brush\nsecond line"


def test_gzip(tmp_path, data_dir, unit_toml):
    plain = write_csv(tmp_path / "x.csv", UNIT_HEADER, ROWS)
    gz = tmp_path / "x.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    report = ingest(gz, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 2


def test_parquet_and_jsonl(tmp_path, data_dir, unit_toml):
    df = pl.DataFrame([dict(zip(UNIT_HEADER, r, strict=True)) for r in ROWS])
    df.write_parquet(tmp_path / "x.parquet")
    with open(tmp_path / "y.jsonl", "w") as fh:
        for r in ROWS:
            d = dict(zip(UNIT_HEADER, r, strict=True))
            d["Event #"] = d["Event #"] + "-j"
            fh.write(json.dumps(d) + "\n")
    report = ingest(
        [tmp_path / "x.parquet", tmp_path / "y.jsonl"], load_profile(unit_toml), data_dir=data_dir
    )
    assert [f.rows_accepted for f in report.files] == [2, 2]
    _check(data_dir, 4)


def test_parquet_native_datetimes(tmp_path, data_dir, unit_toml):
    import datetime as dt

    df = pl.DataFrame({h: [v] for h, v in zip(UNIT_HEADER, unit_row(), strict=True)})
    for c in ("Call Rcvd", "Dispatched", "Enroute", "Arrived", "Clear"):
        df = df.with_columns(pl.col(c).str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M:%S"))
    df = df.with_columns(pl.col("Lat").cast(pl.Float64), pl.col("Lon").cast(pl.Float64))
    df.write_parquet(tmp_path / "x.parquet")
    report = ingest(tmp_path / "x.parquet", load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 1, report.rejects_by_reason
    r = _check(data_dir, 1).row(0, named=True)
    assert r["call_received_at"] == dt.datetime(2024, 1, 15, 15, 0, tzinfo=dt.UTC)


def test_several_files_and_globs(tmp_path, data_dir, unit_toml):
    for i in range(3):
        write_csv(tmp_path / f"day{i}.csv", UNIT_HEADER, [unit_row(inc=f"I{i}")])
    report = ingest([str(tmp_path / "day*.csv")], load_profile(unit_toml), data_dir=data_dir)
    assert len(report.files) == 3
    assert len({f.batch_id for f in report.files}) == 3
    _check(data_dir, 3)


def test_glob_matching_nothing(tmp_path, data_dir, unit_toml):
    with pytest.raises(IngestError, match="glob matched no file"):
        ingest([str(tmp_path / "nothing*.csv")], load_profile(unit_toml), data_dir=data_dir)


def test_missing_column_names_file_and_fix(tmp_path, data_dir, unit_toml):
    header = [h if h != "Apparatus" else "Aparatus" for h in UNIT_HEADER]
    path = write_csv(tmp_path / "x.csv", header, ROWS)
    with pytest.raises(
        IngestError, match=r"`unit_id` maps to column 'Apparatus'.*did you mean 'Aparatus'"
    ):
        ingest(path, load_profile(unit_toml), data_dir=data_dir)


def test_empty_file(tmp_path, data_dir, unit_toml):
    p = tmp_path / "x.csv"
    p.write_text("")
    with pytest.raises(IngestError, match="x.csv: the file is empty"):
        ingest(p, load_profile(unit_toml), data_dir=data_dir)


def test_header_only_file(tmp_path, data_dir, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [])
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert (report.rows_read, report.rows_accepted, report.rows_rejected) == (0, 0, 0)


def test_repeated_header_names(tmp_path, data_dir):
    header = ["ID", "UNIT", "TIME", "TIME", "TIME", "TIME", "LAT", "LON"]
    rows = [
        [
            "1",
            "M1",
            "2024-01-01 10:00:00",
            "2024-01-01 10:01:00",
            "2024-01-01 10:02:00",
            "2024-01-01 10:06:00",
            "40.7",
            "-74.0",
        ]
    ]
    path = write_csv(tmp_path / "x.csv", header, rows)
    toml = write_toml(
        tmp_path / "x.toml",
        """
        [source]
        timezone = "America/New_York"
        [columns]
        incident_id = "ID"
        unit_id = "UNIT"
        call_received_at = "TIME"
        dispatched_at = "TIME#2"
        enroute_at = "TIME#3"
        on_scene_at = "TIME#4"
        latitude = "LAT"
        longitude = "LON"
    """,
    )
    ingest(path, load_profile(toml), data_dir=data_dir)
    r = Store(data_dir).sql("select * from incidents").row(0, named=True)
    assert (r["call_processing_s"], r["turnout_s"], r["travel_s"]) == (60, 60, 240)


def test_constants_several_formats_and_point_location(tmp_path, data_dir):
    header = ["ID", "T0", "T1", "T2", "T3", "WKT"]
    rows = [
        [
            "1",
            "5/3/2019 5:07",
            "5/3/2019 5:08:30",
            "2019-05-03T05:09:00",
            "5/3/2019 5:15",
            "POINT (-74.0 40.7)",
        ],
        [
            "2",
            "05/03/2019 06:07:00",
            "5/3/2019 6:08",
            "5/3/2019 6:09",
            "5/3/2019 6:15",
            "(40.71, -74.01)",
        ],
    ]
    path = write_csv(tmp_path / "x.csv", header, rows)
    toml = write_toml(
        tmp_path / "x.toml",
        """
        [source]
        grain = "incident"
        timezone = "America/New_York"
        timestamp_format = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y-%m-%dT%H:%M:%S"]
        [columns]
        incident_id = "ID"
        call_received_at = "T0"
        dispatched_at = "T1"
        enroute_at = "T2"
        on_scene_at = "T3"
        location = "WKT"
        [constants]
        call_type = "EMS"
        call_category = "ems"
        unit_id = "ENGINE-1"
    """,
    )
    report = ingest(path, load_profile(toml), data_dir=data_dir)
    assert report.rows_accepted == 2, report.rejects_by_reason
    df = Store(data_dir).sql("select * from incidents order by incident_id")
    r = df.row(0, named=True)
    assert (r["call_processing_s"], r["turnout_s"], r["travel_s"]) == (90, 30, 360)
    assert (r["longitude"], r["latitude"]) == (-74.0, 40.7)
    assert r["call_type"] == "EMS" and r["call_category"] == "ems"
    assert r["first_arriving_unit"] == "ENGINE-1"
    assert df.row(1, named=True)["latitude"] == 40.71


def test_null_values_are_configurable(tmp_path, data_dir):
    toml = write_toml(
        tmp_path / "x.toml",
        UNIT_TOML.replace('crs = "EPSG:4326"', 'crs = "EPSG:4326"\nnull_values = ["", "--"]'),
    )
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(arrv="--", clr="--")])
    report = ingest(path, load_profile(toml), data_dir=data_dir)
    assert report.rows_accepted == 1
    assert Store(data_dir).sql("select on_scene_at from responses").item() is None
