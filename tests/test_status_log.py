"""Status logs (issue 11.5): grain = "event", pivoted to one response per (incident, unit,
assignment), checked against the generator's own record of what it wrote."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo

import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_log_gen import HEADER, status_log, write_status_log

from dispatch_analytics import ProfileError, Store, ingest, load_profile
from dispatch_analytics.ingest.profiles import parse_profile

CHI = zoneinfo.ZoneInfo("America/Chicago")
STAGES = ("call_received_at", "dispatched_at", "enroute_at", "on_scene_at", "cleared_at")


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=CHI).astimezone(dt.UTC)


def _pivoted(store):
    df = store.sql(
        "select incident_id, unit_id, assignment, " + ", ".join(STAGES) + " from responses"
    )
    return {
        (r["incident_id"], r["unit_id"], r["assignment"]): {s: r[s] for s in STAGES if r[s]}
        for r in df.rows(named=True)
    }


def test_status_log_from_the_builtin_profile(tmp_path):
    rows, exp = status_log(25, seed=3)
    path = write_status_log(tmp_path / "log.csv", rows)
    report = ingest(path, load_profile("cad_status_log"), data_dir=tmp_path / "s")
    f = report.files[0]
    assert f.rows_read == len(rows) == f.rows_accepted + f.rows_rejected
    assert f.rejects_by_reason == ({"unknown_status": exp["unknown"]} if exp["unknown"] else {})
    assert f.unknown_statuses == ({"XFER": exp["unknown"]} if exp["unknown"] else {})
    got = _pivoted(Store(tmp_path / "s"))
    want = {k: {s: _utc(t) for s, t in v.items()} for k, v in exp["stages"].items()}
    assert got == want
    inc = Store(tmp_path / "s").sql("select count(*) from incidents").item()
    assert inc == 25


@pytest.mark.slow  # a few dozen ingests
@settings(max_examples=examples(10), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 10_000))
def test_shuffling_an_event_log_never_changes_the_pivot(tmp_path_factory, seed):
    rows, _ = status_log(6, seed=seed)
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    out = []
    for name, r in (("a", rows), ("b", shuffled)):
        d = tmp_path_factory.mktemp(name)
        ingest(write_status_log(d / "log.csv", r), load_profile("cad_status_log"), data_dir=d / "s")
        out.append(_pivoted(Store(d / "s")))
    assert out[0] == out[1]


def test_event_rows_that_cannot_be_used_are_rejected(tmp_path):
    rows = [
        ["1", "", "RCVD", "2024-06-01 08:00:00", "MEDICAL", "1", "41.8", "-87.7"],
        ["1", "E1", "DISP", "2024-06-01 08:01:00", "MEDICAL", "1", "41.8", "-87.7"],
        ["1", "E1", "DISP", "2024-06-01 08:01:00", "MEDICAL", "1", "41.8", "-87.7"],  # copy
        ["1", "E1", "ONSC", "garbage", "MEDICAL", "1", "41.8", "-87.7"],
        ["1", "E1", "", "2024-06-01 08:09:00", "MEDICAL", "1", "41.8", "-87.7"],
        ["", "E1", "ENRT", "2024-06-01 08:02:00", "MEDICAL", "1", "41.8", "-87.7"],
        ["2", "E2", "DISP", "2024-06-01 09:01:00", "FALL", "1", "41.8", "-87.7"],  # no RCVD
        ["3", "", "RCVD", "2024-06-01 10:00:00", "FALL", "1", "41.8", "-87.7"],  # no unit
    ]
    path = write_status_log(tmp_path / "log.csv", rows)
    report = ingest(path, load_profile("cad_status_log"), data_dir=tmp_path / "s")
    assert report.rows_read == 8 and report.rows_accepted == 2
    assert report.rejects_by_reason == {
        "duplicate_row": 1,
        "unparseable_time": 1,
        "unknown_status": 1,
        "missing_id": 2,
        "missing_time": 1,
    }
    rej = Store(tmp_path / "s").sql("select source_row, reason from rejects order by 1").rows()
    assert (7, "missing_time") in rej and (8, "missing_id") in rej


def test_event_profile_is_validated():
    base = {
        "source": {"timezone": "UTC", "grain": "event"},
        "columns": {"incident_id": "I", "unit_id": "U", "status": "S"},
    }
    with pytest.raises(ProfileError) as exc:
        parse_profile({**base, "statuses": {"D": "dispatch"}})
    msg = str(exc.value)
    assert "`status_at` is not mapped but `grain` is 'event'" in msg
    assert "`statuses.D` 'dispatch' is not a stage" in msg
    with pytest.raises(ProfileError, match=r"\[statuses\] is only for status logs"):
        parse_profile(
            {
                "source": {"timezone": "UTC"},
                "columns": {"incident_id": "I", "unit_id": "U", "call_received_at": "T"},
                "statuses": {"D": "dispatched_at"},
            }
        )
    assert HEADER[2] == "STATUS"
