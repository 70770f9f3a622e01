"""Local times are read in the agency zone; intervals across DST changes are exact."""

from conftest import UNIT_HEADER, unit_row, write_csv

from dispatch_analytics import Store, ingest, load_profile


def _one(tmp_path, data_dir, unit_toml, **kw):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(**kw)])
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    return report, Store(data_dir)


def test_spring_forward_interval_is_exact(tmp_path, data_dir, unit_toml):
    # 2024-03-10 02:00 EST -> 03:00 EDT. A call at 01:58 dispatched at 03:01 took 3 minutes.
    report, store = _one(
        tmp_path,
        data_dir,
        unit_toml,
        rcvd="03/10/2024 01:58:00",
        disp="03/10/2024 03:01:00",
        enrt="03/10/2024 03:02:00",
        arrv="03/10/2024 03:06:00",
        clr="03/10/2024 03:30:00",
    )
    assert report.rows_accepted == 1
    inc = store.sql("select * from incidents").row(0, named=True)
    assert inc["call_processing_s"] == 180
    assert inc["total_response_s"] == 480
    assert inc["call_received_at"].isoformat() == "2024-03-10T06:58:00+00:00"
    assert inc["first_dispatched_at"].isoformat() == "2024-03-10T07:01:00+00:00"
    assert inc["time_flags"] is None


def test_spring_forward_gap_time_is_rejected(tmp_path, data_dir, unit_toml):
    report, store = _one(
        tmp_path,
        data_dir,
        unit_toml,
        rcvd="03/10/2024 02:30:00",
        disp="03/10/2024 03:01:00",
        enrt="03/10/2024 03:02:00",
        arrv="03/10/2024 03:06:00",
        clr="03/10/2024 03:30:00",
    )
    assert report.rejects_by_reason == {"nonexistent_local_time": 1}
    r = store.sql("select field, value, detail from rejects").row(0, named=True)
    assert r["field"] == "call_received_at" and r["value"] == "03/10/2024 02:30:00"
    assert "does not exist in America/New_York" in r["detail"]


def test_fall_back_resolved_from_stage_order(tmp_path, data_dir, unit_toml):
    # 2024-11-03 02:00 EDT -> 01:00 EST. Received 01:58 (must be EDT), dispatched 01:02
    # (must be EST): 4 minutes, not -56.
    report, store = _one(
        tmp_path,
        data_dir,
        unit_toml,
        rcvd="11/03/2024 01:58:00",
        disp="11/03/2024 01:02:00",
        enrt="11/03/2024 01:03:00",
        arrv="11/03/2024 01:08:00",
        clr="11/03/2024 02:10:00",
    )
    assert report.rows_accepted == 1
    r = store.sql("select * from incidents").row(0, named=True)
    assert r["call_received_at"].isoformat() == "2024-11-03T05:58:00+00:00"
    assert r["first_dispatched_at"].isoformat() == "2024-11-03T06:02:00+00:00"
    assert r["call_processing_s"] == 240
    assert r["total_response_s"] == 600
    assert r["time_flags"] == "dst_resolved"


def test_fall_back_unresolvable_is_flagged(tmp_path, data_dir, unit_toml):
    # everything inside the repeated hour, in order either way: kept, flagged, no 1 h jumps
    report, store = _one(
        tmp_path,
        data_dir,
        unit_toml,
        rcvd="11/03/2024 01:30:00",
        disp="11/03/2024 01:31:00",
        enrt="11/03/2024 01:32:00",
        arrv="11/03/2024 01:36:00",
        clr="11/03/2024 01:50:00",
    )
    assert report.rows_accepted == 1
    r = store.sql("select * from incidents").row(0, named=True)
    assert r["time_flags"] == "dst_ambiguous"
    assert r["call_processing_s"] == 60
    assert r["total_response_s"] == 360
    assert r["call_received_at"].isoformat() == "2024-11-03T05:30:00+00:00"


def test_fall_back_with_unambiguous_neighbour(tmp_path, data_dir, unit_toml):
    # received 00:55 EDT (unambiguous), dispatched 01:10 ambiguous: the later reading (EST)
    # would make a 75-minute gap > max_interval_s 3600, so the earlier one is taken
    report, store = _one(
        tmp_path,
        data_dir,
        unit_toml,
        rcvd="11/03/2024 00:55:00",
        disp="11/03/2024 01:10:00",
        enrt="11/03/2024 01:11:00",
        arrv="11/03/2024 01:15:00",
        clr="11/03/2024 03:00:00",
    )
    r = store.sql("select * from incidents").row(0, named=True)
    assert r["call_processing_s"] == 15 * 60
    assert r["time_flags"] == "dst_resolved"


def test_times_stored_in_utc_and_local_hour_derivable(tmp_path, data_dir, unit_toml):
    report, store = _one(
        tmp_path,
        data_dir,
        unit_toml,
        rcvd="07/04/2024 23:30:00",
        disp="07/04/2024 23:31:00",
        enrt="07/04/2024 23:32:00",
        arrv="07/04/2024 23:40:00",
        clr="07/05/2024 00:30:00",
    )
    row = store.sql(
        "select call_received_at, hour(call_received_at at time zone timezone) as local_hour "
        "from incidents"
    ).row(0, named=True)
    assert row["call_received_at"].isoformat() == "2024-07-05T03:30:00+00:00"
    assert row["local_hour"] == 23
