"""Split date and time columns, times of day only (issue 11.6) and ids hashed from columns
for exports without one (issue 11.4)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from conftest import write_csv, write_toml

from dispatch_analytics import ProfileError, Store, ingest, load_profile
from dispatch_analytics.ingest.times import time_of_day_only

SPLIT_HEADER = ["CALL", "UNIT", "CALL_DATE", "CALL_TIME", "DISP", "ARRV", "CLR"]
SPLIT_TOML = """
[source]
timezone = "America/Chicago"
timestamp_format = "%m/%d/%Y %H:%M:%S"

[columns]
incident_id = "CALL"
unit_id = "UNIT"
call_received_at = ["CALL_DATE", "CALL_TIME"]
dispatched_at = "DISP"
on_scene_at = "ARRV"
cleared_at = "CLR"

[formats]
dispatched_at = "%H:%M:%S"
on_scene_at = "%H:%M:%S"
cleared_at = "%H:%M:%S"
"""


def test_split_date_time_and_times_of_day(tmp_path):
    rows = [
        ["A", "E1", "03/05/2024", "10:00:00", "10:01:00", "10:07:00", "10:40:00"],
        # received before midnight, arrival after it: the arrival rolls to the next day
        ["B", "E1", "03/05/2024", "23:58:30", "23:59:10", "00:04:10", "00:30:00"],
        ["C", "E2", "03/05/2024", "", "10:01:00", "10:07:00", ""],  # no time: unusable
    ]
    toml = write_toml(tmp_path / "s.toml", SPLIT_TOML)
    report = ingest(
        write_csv(tmp_path / "x.csv", SPLIT_HEADER, rows),
        load_profile(toml),
        data_dir=tmp_path / "s",
    )
    assert report.rejects_by_reason == {"missing_time": 1}
    got = (
        Store(tmp_path / "s")
        .sql(
            "select incident_id, call_received_at, on_scene_at, response_s, time_flags "
            "from responses order by 1"
        )
        .rows(named=True)
    )
    utc = dt.UTC
    assert got[0]["call_received_at"] == dt.datetime(2024, 3, 5, 16, 0, tzinfo=utc)  # CST
    assert got[0]["response_s"] == 360.0 and got[0]["time_flags"] is None
    assert got[1]["on_scene_at"] == dt.datetime(2024, 3, 6, 6, 4, 10, tzinfo=utc)
    assert got[1]["response_s"] == 300.0
    assert got[1]["time_flags"] == "midnight_rollover"


def test_time_of_day_only_formats():
    assert time_of_day_only("%H:%M:%S") and time_of_day_only("%I:%M %p")
    assert not time_of_day_only("%m/%d/%Y %H:%M") and not time_of_day_only("%s")


@pytest.mark.parametrize(
    "value, needle",
    [
        (["CALL_DATE"], "a list maps a time field to a date column and a time column"),
        ({"hash": []}, "`columns.incident_id.hash` [] must be a list of source column names"),
        ({"digest": ["A"]}, "only incident_id can be derived"),
    ],
)
def test_bad_column_shapes(tmp_path, value, needle):
    from dispatch_analytics.ingest.profiles import parse_profile

    key = "call_received_at" if isinstance(value, list) else "incident_id"
    cols = {"incident_id": "CALL", "unit_id": "UNIT", "call_received_at": "T", key: value}
    with pytest.raises(ProfileError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        parse_profile({"source": {"timezone": "UTC"}, "columns": cols})


HASH_HEADER = ["UNIT", "RCVD", "ADDR", "ARRV"]
HASH_TOML = """
[source]
timezone = "UTC"
timestamp_format = "%Y-%m-%d %H:%M:%S"

[columns]
incident_id = { hash = ["RCVD", "ADDR"] }
unit_id = "UNIT"
call_received_at = "RCVD"
on_scene_at = "ARRV"
address = "ADDR"
"""


def _ids(tmp_path, rows, name):
    toml = write_toml(tmp_path / "h.toml", HASH_TOML)
    ingest(
        write_csv(tmp_path / f"{name}.csv", HASH_HEADER, rows),
        load_profile(toml),
        data_dir=tmp_path / name,
    )
    return dict(Store(tmp_path / name).sql("select unit_id, incident_id from responses").rows())


def test_hashed_ids_are_stable_across_exports_and_row_order(tmp_path):
    rows = [
        ["E1", "2024-01-01 10:00:00", "1 Main St", "2024-01-01 10:06:00"],
        ["M2", "2024-01-01 10:00:00", "1 Main St", "2024-01-01 10:08:00"],
        ["E3", "2024-01-01 11:00:00", "9 Oak Ave", "2024-01-01 11:05:00"],
    ]
    a = _ids(tmp_path, rows, "a")
    assert a["E1"] == a["M2"] != a["E3"]  # same call, same id; another call, another id
    assert a["E1"].startswith("h") and len(a["E1"]) == 17
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    # a re-export with other spacing / case gives the same ids
    shuffled = [[u, r, "  " + addr.upper().replace(" ", "  "), s] for u, r, addr, s in shuffled]
    assert _ids(tmp_path, shuffled, "b") == a
    # an independent digest: SHA-256 of the normalised values joined by \x1f
    import hashlib

    text = "2024-01-01 10:00:00\x1f1 MAIN ST"
    assert a["E1"] == "h" + hashlib.sha256(text.encode()).hexdigest()[:16]


def test_hashed_id_blank_columns_are_missing_id(tmp_path):
    rows = [["E1", "", "", "2024-01-01 10:06:00"], ["E2", "2024-01-01 10:00:00", "", ""]]
    toml = write_toml(tmp_path / "h.toml", HASH_TOML)
    report = ingest(
        write_csv(tmp_path / "x.csv", HASH_HEADER, rows),
        load_profile(toml),
        data_dir=tmp_path / "s",
    )
    assert report.rejects_by_reason == {"missing_id": 1}
    assert report.rows_accepted == 1
