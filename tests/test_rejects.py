"""Every reject reason, on a tiny export; rows in = accepted + rejected."""

from pathlib import Path

import pytest
from conftest import UNIT_HEADER, UNIT_TOML, unit_row, write_csv, write_toml

from dispatch_analytics import REJECT_REASONS, Store, ingest, load_profile

CASES = {
    "missing_id": (dict(inc=""), "incident_id"),
    "unparseable_time": (dict(disp="13/45/2024 25:61:00"), "dispatched_at"),
    "nonexistent_local_time": (
        dict(
            rcvd="03/10/2024 02:15:00",
            disp="03/10/2024 03:16:00",
            enrt="03/10/2024 03:17:00",
            arrv="03/10/2024 03:20:00",
            clr="03/10/2024 04:00:00",
        ),
        "call_received_at",
    ),
    "missing_time": (dict(rcvd=""), "call_received_at"),
    "stage_order": (dict(enrt="01/15/2024 10:00:30"), "enroute_at"),
    "interval_too_long": (
        dict(arrv="01/15/2024 12:30:00", clr="01/15/2024 13:00:00"),
        "on_scene_at",
    ),
    "missing_coordinates": (dict(lat=""), "latitude"),
    "unparseable_coordinates": (dict(lat="forty"), "latitude"),
    "zero_coordinates": (dict(lat="0", lon="0"), "latitude"),
    "coordinates_out_of_range": (dict(lat="123.4"), "latitude"),
}


#: the strict profile: a bad stage rejects its row (the default excludes the stage instead:
#: tests/test_stage_exclusion.py)
STRICT_TOML = UNIT_TOML + 'on_stage_error = "reject"\nrequire_coordinates = true\n'
#: reasons that reject a row only under on_stage_error = "reject" (when the stage is not
#: call_received_at) or require_coordinates = true (else the row is kept as unlocated)
STAGE_REASONS = {
    "unparseable_time",
    "stage_order",
    "interval_too_long",
    "missing_coordinates",
    "unparseable_coordinates",
    "zero_coordinates",
    "coordinates_out_of_range",
}


@pytest.fixture
def strict_toml(tmp_path):
    return write_toml(tmp_path / "strict.toml", STRICT_TOML)


@pytest.mark.parametrize("reason", sorted(CASES))
def test_reject_reason(tmp_path, data_dir, unit_toml, strict_toml, reason):
    kw, field = CASES[reason]
    if reason in STAGE_REASONS:
        unit_toml = strict_toml
    good = [unit_row(inc=f"G{i}") for i in range(3)]
    bad = unit_row(**{"inc": "B1", **kw})
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [good[0], bad, good[1], good[2]])
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_read == 4 == report.rows_accepted + report.rows_rejected
    assert report.rejects_by_reason == {reason: 1}
    r = Store(data_dir).sql("select * from rejects").row(0, named=True)
    assert r["reason"] == reason
    assert r["field"] == field
    assert r["source_row"] == 2
    assert r["source"].endswith("x.csv")
    assert r["detail"]
    assert '"Apparatus":"M1"' in r["raw_row"]


def test_unit_id_missing(tmp_path, data_dir, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(unit="")])
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rejects_by_reason == {"missing_id": 1}
    assert Store(data_dir).sql("select field from rejects").item() == "unit_id"


def test_duplicate_row_within_file_and_across_files(tmp_path, data_dir, unit_toml):
    rows = [unit_row(inc="A"), unit_row(inc="B"), unit_row(inc="A")]
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, rows)
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rejects_by_reason == {"duplicate_row": 1}
    r = Store(data_dir).sql("select * from rejects").row(0, named=True)
    assert r["source_row"] == 3 and r["detail"] == "same as row 1 of this file"
    # another file that repeats a stored row: rejected as a duplicate too
    path2 = write_csv(tmp_path / "y.csv", UNIT_HEADER, [unit_row(inc="B"), unit_row(inc="C")])
    report2 = ingest(path2, load_profile(unit_toml), data_dir=data_dir)
    assert report2.rejects_by_reason == {"duplicate_row": 1}
    assert Store(data_dir).sql("select count(*) from responses").item() == 3


def test_coordinates_out_of_area(tmp_path, data_dir):
    from conftest import UNIT_TOML

    toml = write_toml(
        tmp_path / "b.toml", UNIT_TOML + "bbox = [-75, 40, -73, 41]\nrequire_coordinates = true\n"
    )
    rows = [unit_row(), unit_row(inc="X", lat="35.0", lon="-80.0")]
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, rows)
    report = ingest(path, load_profile(toml), data_dir=data_dir)
    assert report.rejects_by_reason == {"coordinates_out_of_area": 1}


def test_span_limit(tmp_path, data_dir, strict_toml):
    row = unit_row(clr="01/20/2024 10:00:00")
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [row])
    report = ingest(path, load_profile(strict_toml), data_dir=data_dir)
    assert report.rejects_by_reason == {"interval_too_long": 1}
    assert "max_span_s" in Store(data_dir).sql("select detail from rejects").item()


def test_first_problem_is_the_reason_all_are_listed(tmp_path, data_dir, strict_toml):
    row = unit_row(disp="garbage", lat="0", lon="0")
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [row])
    ingest(path, load_profile(strict_toml), data_dir=data_dir)
    r = Store(data_dir).sql("select reason, detail from rejects").row(0, named=True)
    assert r["reason"] == "unparseable_time"
    assert "all problems: unparseable_time, zero_coordinates" in r["detail"]


def test_every_reason_is_documented_in_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for reason in REJECT_REASONS:
        assert f"`{reason}`" in readme, reason


def test_stage_order_response_only_keeps_rows_and_flags(tmp_path, data_dir):
    """`stage_order = "response"` (which predates per-interval exclusion, so it implies
    on_stage_error = "reject"): stages after arrival out of order are flagged, not rejected;
    on the SF slice only the on-scene-before-en-route row is still rejected."""
    from conftest import SF_SLICE

    text = (
        Path(__file__).parents[1] / "dispatch_analytics/ingest/builtin_profiles/sffd.toml"
    ).read_text()
    toml = write_toml(tmp_path / "sf.toml", text + '\n[validation]\nstage_order = "response"\n')
    report = ingest(SF_SLICE, load_profile(toml), data_dir=data_dir)
    assert report.rejects_by_reason == {"stage_order": 1}
    store = Store(data_dir)
    assert store.sql("select field from rejects").item() == "on_scene_at"
    flagged = store.sql(
        "select count(*) from responses where time_flags like '%stage_order_after_arrival%'"
    ).item()
    assert flagged == 27
    assert store.sql("select count(*) from responses where time_flags = ''").item() == 0


def test_stage_order_option_is_validated(tmp_path):
    from dispatch_analytics import ProfileError

    toml = write_toml(tmp_path / "x.toml", UNIT_TOML + 'stage_order = "some"\n')
    with pytest.raises(ProfileError, match="`stage_order` 'some' must be 'all'"):
        load_profile(toml)
