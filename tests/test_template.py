"""Tests for dispatch_analytics.ingest.template (starter mapping TOML from a sample file)."""

from __future__ import annotations

import gzip
import json
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_analytics.errors import IngestError, ProfileError
from dispatch_analytics.ingest.profiles import parse_profile
from dispatch_analytics.ingest.template import (
    TIMESTAMP_CANDIDATES,
    guess_formats,
    profile_template,
)

SF_FILE = (
    Path(__file__).resolve().parents[1]
    / "sample_data"
    / "sf_week"
    / "sffd_calls_2016-12-31_2017-01-07.csv"
)


def _load(text: str):
    """The TOML both as a dict and as a validated SourceProfile."""
    data = tomllib.loads(text)
    return data, parse_profile(data)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------------------ real file
def test_sf_real_file():
    text = profile_template(SF_FILE)
    data, prof = _load(text)
    cols = prof.columns
    assert cols["incident_id"] == "Incident Number"
    assert cols["unit_id"] == "Unit ID"
    assert cols["call_received_at"] == "Received DtTm"
    assert cols["dispatched_at"] == "Dispatch DtTm"
    assert cols["on_scene_at"] == "On Scene DtTm"
    assert cols["cleared_at"] == "Available DtTm"
    assert cols["location"] == "Location"
    assert "latitude" not in cols and "longitude" not in cols
    assert prof.grain == "unit"
    assert prof.timestamp_formats == ("%m/%d/%Y %I:%M:%S %p",)
    assert data["source"]["timestamp_format"] == "%m/%d/%Y %I:%M:%S %p"
    assert prof.crs == "EPSG:4326"
    assert prof.location_order == "lat,lon"
    assert prof.delimiter == ","
    assert prof.timezone == "UTC"
    assert '# TODO: set the agency\'s IANA time zone, e.g. "America/New_York"' in text
    # unmatched columns are offered as comments, header comment names the file
    assert '# ? = "Call Number"' in text
    assert '# ? = "Neighborhood  District"' in text
    assert SF_FILE.name in text.splitlines()[1]
    assert "GUESS" in text
    # categories: explicit strings from the sample
    assert "Medical Incident" in prof.categories["ems"]
    assert "Structure Fire" in prof.categories["fire"]
    assert prof.category_of("Medical Incident") == "ems"
    assert prof.category_of("Alarms") == "fire"
    assert prof.category_of("Traffic Collision") == "other"


def test_sf_real_file_with_timezone_and_small_sample():
    text = profile_template(str(SF_FILE), timezone="America/Los_Angeles", sample_rows=5)
    _, prof = _load(text)
    assert prof.timezone == "America/Los_Angeles"
    assert "TODO: set the agency" not in text
    assert prof.columns["incident_id"] == "Incident Number"
    assert "5 sampled rows" in text


# ------------------------------------------------------------------------ CSV variants
def test_semicolon_cp1252_file(tmp_path):
    lines = [
        "Incident;Unit;Received;Nature;Address;Remarque",
        "A1;M12;13/05/2019 14:07:00;Chest pain – café;Rue de l'Église 3;déjà vu",
        "A1;E4;13/05/2019 14:07:00;Chest pain – café;Rue de l'Église 3;",
        "A2;E4;02/05/2019 08:00:00;Structure fire – crèche;Place Müller;ça brûle",
        "A3;M12;25/12/2019 23:59:59;Sick person;Straße 5;€ 5",
    ]
    path = _write(tmp_path / "export.csv", "\r\n".join(lines) + "\r\n", "cp1252")
    text = profile_template(path, timezone="Europe/Paris")
    data, prof = _load(text)
    assert prof.delimiter == ";"
    assert prof.encoding == "cp1252"
    assert prof.columns["incident_id"] == "Incident"
    assert prof.columns["unit_id"] == "Unit"
    assert prof.columns["call_received_at"] == "Received"
    assert prof.columns["call_type"] == "Nature"
    assert prof.columns["address"] == "Address"
    assert prof.timestamp_formats == ("%d/%m/%Y %H:%M:%S",)  # 13/05 only parses day-first
    assert prof.grain == "unit"
    assert prof.categories["ems"] == ("Chest pain – café", "Sick person")
    assert prof.categories["fire"] == ("Structure fire – crèche",)
    assert '# ? = "Remarque"' in text
    assert "déjà vu" in text


def test_utf8_bom_header(tmp_path):
    body = "incident_id,unit_id,call received\n1,E1,2019-05-03 05:07:00\n"
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    _, prof = _load(profile_template(path))
    assert prof.columns["incident_id"] == "incident_id"  # no BOM in the name
    assert prof.encoding == "auto"
    assert prof.timestamp_formats == ("%Y-%m-%d %H:%M:%S",)
    assert prof.grain == "incident"  # ids do not repeat


def test_minute_times_and_projected_xy(tmp_path):
    rows = [
        "inc_no,unit,t_rcvd,t_disp,t_arrv,t_clr,x,y,problem",
        "19-1,M1,5/3/2019 5:07,5/3/2019 5:08,5/3/2019 5:15,5/3/2019 6:01,-8575000.5,4705000.25,FALL",
        "19-1,E2,5/3/2019 5:07,5/3/2019 5:09,,5/3/2019 5:40,-8575000.5,4705000.25,FALL",
        "19-2,M1,12/31/2019 17:45,12/31/2019 17:46,12/31/2019 17:52,,-8574100,4706100,SMOKE",
        "19-3,E2,1/1/2020 0:03,1/1/2020 0:04,1/1/2020 0:09,1/1/2020 0:30,-8573000,4704000,OTHER",
    ]
    path = _write(tmp_path / "cad.csv", "\n".join(rows) + "\n")
    text = profile_template(path)
    _, prof = _load(text)
    assert prof.crs == "EPSG:3857"
    assert "# coordinates look projected: CHECK this code" in text
    assert prof.timestamp_formats == ("%m/%d/%Y %H:%M",)
    assert prof.columns["longitude"] == "x"
    assert prof.columns["latitude"] == "y"
    assert prof.columns["call_received_at"] == "t_rcvd"
    assert prof.columns["dispatched_at"] == "t_disp"
    assert prof.columns["on_scene_at"] == "t_arrv"
    assert prof.columns["cleared_at"] == "t_clr"
    assert prof.columns["call_type"] == "problem"
    assert prof.grain == "unit"
    assert prof.category_of("FALL") == "ems"
    assert prof.category_of("SMOKE") == "fire"


def test_degree_latlon_and_point_location(tmp_path):
    rows = [
        "Event Number,Time Received,lat,lon,geom",
        "E1,2019-05-03T05:07:00,40.71,-74.00,POINT (-74.00 40.71)",
        "E2,2019-05-03T05:08:00.5,40.72,-73.99,POINT (-73.99 40.72)",
    ]
    text = profile_template(_write(tmp_path / "ev.csv", "\n".join(rows) + "\n"))
    _, prof = _load(text)
    assert prof.crs == "EPSG:4326"
    assert prof.columns["latitude"] == "lat"
    assert prof.columns["longitude"] == "lon"
    assert "location" not in prof.columns  # lat/lon preferred; the alternative is commented
    assert '# location = "geom"' in text
    assert '# ? = "geom"' not in text
    assert prof.timestamp_formats == ("%Y-%m-%dT%H:%M:%S%.f",)
    assert prof.grain == "incident"


def test_location_lon_lat_pairs(tmp_path):
    rows = [
        "incident number,received dttm,Where",
        '1,2019-05-03 05:07:00,"(-122.41, 37.77)"',
        '2,2019-05-03 05:08:00,"(-122.42, 37.78)"',
    ]
    _, prof = _load(profile_template(_write(tmp_path / "p.csv", "\n".join(rows) + "\n")))
    assert prof.columns["location"] == "Where"  # found by its values
    assert prof.location_order == "lon,lat"


def test_repeated_header_names(tmp_path):
    rows = [
        "Incident Number,Unit,Unit,Time,Time,Call Type,Call Type",
        "1,E1,X,2019-05-03 05:07:00,2019-05-03 05:09:00,Fire,Fire alarm",
        "1,M2,Y,2019-05-03 05:07:00,2019-05-03 05:10:00,Fire,Fire alarm",
    ]
    text = profile_template(_write(tmp_path / "dup.csv", "\n".join(rows) + "\n"))
    _, prof = _load(text)
    assert prof.columns["unit_id"] == "Unit"
    assert prof.columns["call_received_at"] == "Time"
    assert prof.columns["call_type"] == "Call Type"
    for name in ("Unit#2", "Time#2", "Call Type#2"):
        assert f'# ? = "{name}"' in text
    assert prof.grain == "unit"


def test_nemsis_header(tmp_path):
    rows = [
        "eResponse.03,eResponse.13,eTimes.01,eTimes.03,eTimes.05,eTimes.06,eTimes.07,"
        "eTimes.09,eTimes.11,eTimes.13,eScene.19",
        "R1,M7,2019-05-03T05:07:00-04:00,2019-05-03T05:08:00-04:00,2019-05-03T05:09:00-04:00,"
        "2019-05-03T05:15:00-04:00,2019-05-03T05:16:00-04:00,2019-05-03T05:30:00-04:00,"
        "2019-05-03T05:45:00-04:00,2019-05-03T06:30:00-04:00,10001",
        "R2,M8,2019-05-03T07:07:00-04:00,2019-05-03T07:08:00-04:00,,,,,,"
        "2019-05-03T07:30:00-04:00,10002",
    ]
    text = profile_template(_write(tmp_path / "nemsis.csv", "\n".join(rows) + "\n"))
    _, prof = _load(text)
    c = prof.columns
    assert c["incident_id"] == "eResponse.03"
    assert c["unit_id"] == "eResponse.13"
    assert c["call_arrived_at"] == c["call_received_at"] == "eTimes.01"
    assert c["dispatched_at"] == "eTimes.03"
    assert c["enroute_at"] == "eTimes.05"
    assert c["on_scene_at"] == "eTimes.06"
    assert c["at_patient_at"] == "eTimes.07"
    assert c["transport_at"] == "eTimes.09"
    assert c["at_hospital_at"] == "eTimes.11"
    assert c["cleared_at"] == "eTimes.13"
    assert c["zipcode"] == "eScene.19"
    assert prof.timestamp_formats == ("%Y-%m-%dT%H:%M:%S%:z",)
    assert prof.constants == {"call_category": "ems"}
    assert prof.grain == "incident"  # ids do not repeat in this sample


def test_quoted_fields_and_tab_delimiter_gzip(tmp_path):
    rows = [
        "cad_incident_id\tapparatus\tincident_datetime\tdispatch dttm\tinitial_call_type\taddress",
        '7\tE1\t2019-05-03 05:07:00\t2019-05-03 05:08:00\t"Breathing\tproblem"\t"1 Main St\nApt 2"',
        "7\tT3\t2019-05-03 05:07:00\t2019-05-03 05:09:00\tBreathing problem\t1 Main St",
        "8\tE1\t2019-05-03 06:07:00\t2019-05-03 06:08:00\tAlarm [commercial]\t2 Oak Ave",
    ]
    path = tmp_path / "calls.tsv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(("\n".join(rows) + "\n").encode())
    text = profile_template(path)
    data, prof = _load(text)
    assert data["source"]["delimiter"] == "\t"
    assert prof.columns["incident_id"] == "cad_incident_id"
    assert prof.columns["unit_id"] == "apparatus"
    assert prof.columns["call_received_at"] == "incident_datetime"
    assert prof.columns["dispatched_at"] == "dispatch dttm"
    assert prof.columns["call_type"] == "initial_call_type"
    assert prof.grain == "unit"
    # glob characters in a call type are escaped so the value matches only itself
    assert prof.category_of("Alarm [commercial]") == "fire"
    assert prof.category_of("Alarm c") == "other"
    assert prof.category_of("Breathing\tproblem") == "ems"


def test_parquet(tmp_path):
    df = pl.DataFrame(
        {
            "CAD_INCIDENT_ID": ["1", "2", "3"],
            "INCIDENT_DATETIME": ["2019-05-03T05:07:00", "2019-05-03T06:07:00", None],
            "FIRST_ASSIGNMENT_DATETIME": [
                datetime(2019, 5, 3, 5, 8),
                datetime(2019, 5, 3, 6, 9),
                None,
            ],
            "LATITUDE": [40.7, 40.8, 40.6],
            "LONGITUDE": [-74.0, -73.9, -73.8],
            "ZIPCODE": [10001, 10002, None],
        }
    )
    path = tmp_path / "nyc.parquet"
    df.write_parquet(path)
    text = profile_template(path, timezone="America/New_York")
    data, prof = _load(text)
    assert prof.columns["incident_id"] == "CAD_INCIDENT_ID"
    assert prof.columns["call_received_at"] == "INCIDENT_DATETIME"
    assert prof.columns["dispatched_at"] == "FIRST_ASSIGNMENT_DATETIME"
    assert prof.columns["latitude"] == "LATITUDE"
    assert prof.columns["zipcode"] == "ZIPCODE"
    assert prof.crs == "EPSG:4326"
    assert prof.grain == "incident"
    assert prof.timestamp_formats == ("%Y-%m-%dT%H:%M:%S",)
    assert "delimiter" not in data["source"]


def test_jsonl(tmp_path):
    recs = [
        {"inc_no": "J1", "unit": "M1", "t_rcvd": "2019-05-03T05:07:00Z", "nature": "Cardiac"},
        {"inc_no": "J1", "unit": "E2", "t_rcvd": "2019-05-03T05:07:00Z", "nature": "Cardiac"},
        {"inc_no": "J2", "unit": "E2", "t_rcvd": "2019-05-03T09:07:00+01:00", "extra": [1, 2]},
    ]
    path = _write(tmp_path / "calls.jsonl", "\n".join(json.dumps(r) for r in recs) + "\n\n")
    text = profile_template(path)
    _, prof = _load(text)
    assert prof.columns["incident_id"] == "inc_no"
    assert prof.columns["unit_id"] == "unit"
    assert prof.columns["call_received_at"] == "t_rcvd"
    assert prof.timestamp_formats == ("%Y-%m-%dT%H:%M:%S%#z",)
    assert prof.grain == "unit"
    assert '# ? = "extra"' in text


def test_header_only_file_still_maps_names(tmp_path):
    path = _write(tmp_path / "h.csv", "Incident Number,Unit ID,Received DtTm,Location\n")
    text = profile_template(path)
    _, prof = _load(text)
    assert prof.columns["call_received_at"] == "Received DtTm"
    assert "TODO: no timestamp values in the sample" in text


def test_missing_required_columns_are_commented(tmp_path):
    path = _write(tmp_path / "odd.csv", "foo,bar\n1,2\n3,4\n")
    text = profile_template(path)
    data = tomllib.loads(text)  # still valid TOML
    assert "incident_id" not in data["columns"]
    assert "# TODO: no incident id column was recognised" in text
    assert '# incident_id = "COLUMN"' in text
    assert '# call_received_at = "COLUMN"' in text
    assert '# ? = "foo"' in text and '# ? = "bar"' in text
    with pytest.raises(ProfileError, match="incident_id"):
        parse_profile(data)


# ------------------------------------------------------------------------ errors
def test_missing_file_raises(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(IngestError, match="nope.csv"):
        profile_template(missing)


def test_empty_file_raises(tmp_path):
    path = _write(tmp_path / "empty.csv", "")
    with pytest.raises(IngestError, match=r"empty\.csv.*empty"):
        profile_template(path)
    blank = _write(tmp_path / "blank.csv", "\n\n  \n")
    with pytest.raises(IngestError, match="blank.csv"):
        profile_template(blank)


def test_no_header_raises(tmp_path):
    path = _write(
        tmp_path / "data_only.csv", "1,2019-05-03 05:07:00,3.5\n2,2019-05-03 05:08:00,4\n"
    )
    with pytest.raises(IngestError, match=r"data_only\.csv.*header"):
        profile_template(path)


def test_bad_parquet_and_gzip_raise(tmp_path):
    bad = _write(tmp_path / "bad.parquet", "not parquet at all")
    with pytest.raises(IngestError, match="bad.parquet"):
        profile_template(bad)
    badgz = tmp_path / "bad.csv.gz"
    badgz.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(IngestError, match="bad.csv.gz"):
        profile_template(badgz)


def test_bad_arguments(tmp_path):
    path = _write(tmp_path / "a.csv", "incident_id,call received\n1,2019-05-03 05:07:00\n")
    with pytest.raises(ValueError, match="timezone"):
        profile_template(path, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="sample_rows"):
        profile_template(path, sample_rows=0)


# ------------------------------------------------------------------------ guess_formats
def test_guess_formats_empty():
    assert guess_formats([]) == []
    assert guess_formats(["", "  ", "NULL", "N/A"]) == []
    assert guess_formats(["not a date", "12345"]) == []


def test_guess_formats_non_padded_minutes():
    assert guess_formats(["5/3/2019 5:07", "12/31/2019 23:59", None]) == ["%m/%d/%Y %H:%M"]


def test_guess_formats_twelve_hour_clock():
    assert guess_formats(["01/01/2017 11:47:55 AM", "12/31/2016 11:57:56 PM"]) == [
        "%m/%d/%Y %I:%M:%S %p"
    ]


def test_guess_formats_mixed_ordered_by_count():
    values = ["2019-05-03 05:07:00"] * 3 + ["05/03/2019 07:00:00"] * 5 + ["garbage"]
    assert guess_formats(values) == ["%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def test_guess_formats_day_first_only_when_needed():
    assert guess_formats(["01/02/2019 10:00:00", "03/04/2019 11:00:00"]) == ["%m/%d/%Y %H:%M:%S"]
    assert guess_formats(["13/01/2019 10:00:00", "01/02/2019 10:00:00"]) == ["%d/%m/%Y %H:%M:%S"]
    # month-first values with a day above 12 stay month-first
    assert guess_formats(["01/13/2019 10:00:00", "01/02/2019 10:00:00"]) == ["%m/%d/%Y %H:%M:%S"]


def test_guess_formats_fractions_and_offsets():
    assert guess_formats(["2019-05-03T05:07:00", "2019-05-03T05:07:00.250"]) == [
        "%Y-%m-%dT%H:%M:%S%.f"
    ]
    assert guess_formats(["2019-05-03T05:07:00-04:00"]) == ["%Y-%m-%dT%H:%M:%S%:z"]
    assert guess_formats(["2019-05-03T05:07:00Z", "2019-05-03T05:07:00+02:00"]) == [
        "%Y-%m-%dT%H:%M:%S%#z"
    ]


_PLAIN = [f for f in TIMESTAMP_CANDIDATES if "z" not in f and "%.f" not in f]


@settings(max_examples=examples(40), deadline=None)
@given(
    st.lists(
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(_PLAIN),
)
def test_guess_formats_parses_what_it_returns(stamps, fmt):
    values = [(s - timedelta(microseconds=s.microsecond)).strftime(fmt) for s in stamps]
    found = guess_formats(values)
    assert found
    series = pl.Series(values)
    parsed = [series.str.strptime(pl.Datetime, f, strict=False) for f in found]
    for i in range(len(values)):
        assert any(p[i] is not None for p in parsed)
