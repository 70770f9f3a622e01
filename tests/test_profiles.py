import pytest

from dispatch_analytics import ProfileError, builtin_profiles, load_profile
from dispatch_analytics.ingest.profiles import parse_profile

BASE = {
    "source": {"timezone": "America/New_York", "grain": "unit"},
    "columns": {"incident_id": "ID", "unit_id": "U", "call_received_at": "T0"},
}


def test_builtin_profiles_load():
    names = set(builtin_profiles())
    assert {"sffd", "nyc_ems", "nemsis"} <= names
    for n in names:
        p = load_profile(n)
        assert p.name == n
        assert p.description


def test_nemsis_profile_uses_etimes_names():
    p = load_profile("nemsis")
    assert p.columns["call_arrived_at"] == "eTimes.01"
    assert p.columns["dispatched_at"] == "eTimes.03"
    assert p.columns["enroute_at"] == "eTimes.05"
    assert p.columns["on_scene_at"] == "eTimes.06"
    assert p.columns["at_patient_at"] == "eTimes.07"
    assert p.columns["transport_at"] == "eTimes.09"
    assert p.columns["at_hospital_at"] == "eTimes.11"
    assert p.columns["cleared_at"] == "eTimes.13"


def test_minimal_profile_parses():
    p = parse_profile(BASE)
    assert p.grain == "unit" and p.timezone == "America/New_York"
    assert not p.has_coordinates and not p.coordinates_required


def test_bad_timezone_message_says_the_fix():
    data = {**BASE, "source": {"timezone": "EST5"}}
    with pytest.raises(
        ProfileError, match=r"`timezone` 'EST5' is not an IANA name; use e.g. 'America/New_York'"
    ):
        parse_profile(data)


def test_every_problem_is_reported_at_once():
    data = {
        "source": {"timezone": "Mars/Olympus", "grain": "street", "crs": "WGS-84ish"},
        "columns": {"incidnet_id": "X", "latitude": "Y"},
        "validation": {"max_interval_s": -5},
    }
    with pytest.raises(ProfileError) as exc:
        parse_profile(data)
    msg = str(exc.value)
    assert "did you mean `incident_id`" in msg
    assert "`grain` 'street'" in msg
    assert "`timezone` 'Mars/Olympus'" in msg
    assert "`crs` 'WGS-84ish' is not known to PROJ" in msg  # any input PROJ knows is fine
    assert "map both `latitude` and `longitude`" in msg
    assert "`max_interval_s` must be a positive" in msg
    assert "`call_received_at` is not mapped" in msg
    assert len(exc.value.problems) >= 7


def test_unit_grain_needs_unit_id():
    data = {"source": {"timezone": "UTC"}, "columns": {"incident_id": "A", "call_received_at": "B"}}
    with pytest.raises(ProfileError, match="`unit_id` is not mapped but `grain` is 'unit'"):
        parse_profile(data)
    data["source"]["grain"] = "incident"
    assert parse_profile(data).grain == "incident"


def test_constant_and_column_conflict():
    data = {**BASE, "constants": {"unit_id": "M1"}}
    with pytest.raises(ProfileError, match="both as a column and as a constant"):
        parse_profile(data)


def test_unknown_profile_name():
    with pytest.raises(ProfileError, match="neither a built-in profile"):
        load_profile("no_such_profile")


def test_invalid_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[source\n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(p)


def test_categories_first_match_wins():
    data = {
        **BASE,
        "columns": {**BASE["columns"], "call_type": "CT"},
        "categories": {"ems": ["Medical*"], "fire": ["*Fire*", "Alarm?"]},
    }
    p = parse_profile(data)
    assert p.category_of("Medical Incident") == "ems"
    assert p.category_of("STRUCTURE FIRE") == "fire"
    assert p.category_of("Alarms") == "fire"
    assert p.category_of("Traffic Collision") == "other"
    assert p.category_of(None) == "other"


def test_bbox_validation():
    data = {**BASE, "validation": {"bbox": [1, 2, 0, 3]}}
    with pytest.raises(ProfileError, match=r"`bbox`"):
        parse_profile(data)
