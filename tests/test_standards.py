"""Standards profiles: built-in numbers, local overrides, errors."""

from __future__ import annotations

import polars as pl
import pytest

from dispatch_analytics.errors import DispatchError
from dispatch_analytics.metrics.standards import (
    METRICS,
    PERCENTILE_METHOD,
    StandardError,
    builtin_standards,
    load_standard,
    metric_def,
)


def _t(std, key):
    e = std.entry(key)
    return e.metric, e.level, e.start, e.end, e.target_s, e.percentile


def test_builtin_profiles_exist_and_load():
    assert builtin_standards() == ["cfai", "nfpa1225", "nfpa1710", "nfpa1720"]
    for name in builtin_standards():
        std = load_standard(name)
        assert std.name == name and std.targets and std.percentile_method == "nearest-rank"
        for e in std.targets:
            md = metric_def(e.metric, e.level)
            assert (e.start, e.end) == (md.start, md.end)


def test_nfpa1710_numbers():
    s = load_standard("nfpa1710")
    assert _t(s, "call_processing") == (
        "call_processing",
        "incident",
        "call_received_at",
        "dispatched_at",
        60.0,
        90.0,
    )
    assert _t(s, "turnout_ems")[4:] == (60.0, 90.0)
    assert s.entry("turnout_ems").call_category == ("ems",)
    assert _t(s, "turnout_fire")[4:] == (80.0, 90.0)
    assert s.entry("turnout_fire").call_category == ("fire", "other")
    assert _t(s, "travel_first_unit") == (
        "travel",
        "incident",
        "enroute_at",
        "on_scene_at",
        240.0,
        90.0,
    )
    assert _t(s, "travel_als")[1] == "unit" and _t(s, "travel_als")[4] == 480.0
    assert s.entry("erf_travel").staff == 15 and s.entry("erf_travel").target_s == 480.0
    assert s.staff_of("engine") == 4 and s.staff_of("unknown") == 0 and s.staff_of(None) == 0


def test_nfpa1225_numbers():
    s = load_standard("nfpa1225")
    got = {e.key: (e.metric, e.target_s, e.percentile) for e in s.targets}
    assert got == {
        "alarm_answering_90": ("alarm_answering", 15.0, 90.0),
        "alarm_answering_95": ("alarm_answering", 20.0, 95.0),
        "call_processing": ("call_processing", 60.0, 90.0),
        "alarm_processing_90": ("call_processing", 64.0, 90.0),
        "alarm_processing_95": ("call_processing", 106.0, 95.0),
    }
    assert s.entry("alarm_answering_90").start == "call_arrived_at"
    assert s.entry("alarm_answering_90").end == "call_answered_at"


def test_nfpa1720_demand_zones():
    s = load_standard("nfpa1720")
    z = {k: (v.staff, v.target_s, v.percentile) for k, v in s.demand_zones.items()}
    assert z == {
        "urban": (15, 540.0, 90.0),
        "suburban": (10, 600.0, 80.0),
        "rural": (6, 840.0, 80.0),
        "remote": (4, None, 90.0),
    }
    assert s.demand_zones["remote"].target_note == "target_distance_dependent"
    assert s.entry("erf_assembly").by_density_class
    d = s.describe()
    assert d.height == 4 and d["density_class"].to_list() == [
        "urban",
        "suburban",
        "rural",
        "remote",
    ]


def test_cfai_baseline_benchmark_defaults():
    s = load_standard("cfai")
    assert s.defaults
    e = s.entry("total_response_fire")
    assert (e.target_s, e.baseline_s, e.percentile) == (380.0, 500.0, 90.0)  # 6:20 / 8:20
    for e in s.targets:
        assert e.baseline_s is not None and e.baseline_s >= e.target_s
        assert "default" in e.source.lower()


def test_describe_names_profile_timestamps_and_method():
    d = load_standard("nfpa1710").describe()
    assert {
        "profile",
        "entry",
        "metric",
        "start",
        "end",
        "target_s",
        "percentile",
        "percentile_method",
    } <= set(d.columns)
    assert d["percentile_method"].unique().to_list() == [PERCENTILE_METHOD]
    assert d.filter(pl.col("entry") == "turnout_ems")["start"].item() == "dispatched_at"


def test_overrides_from_config_toml(tmp_path):
    cfg = tmp_path / "dispatch.toml"
    cfg.write_text(
        "[ingest]\nignored = true\n\n"  # other sections of a config file are ignored
        "[targets.turnout]\ntarget_s = 70\n\n"  # a metric name: every turnout entry
        "[targets.travel_first_unit]\ntarget_s = 300\npercentile = 80\n\n"
        '[targets.total_response]\ntarget_s = 500\ncall_category = "fire"\n\n'
        "[staffing]\nENGINE = 3\ndefault = 1\n"
    )
    s = load_standard("nfpa1710", cfg)
    assert s.entry("turnout_ems").target_s == 70 and s.entry("turnout_fire").target_s == 70
    assert s.entry("turnout_ems").call_category == ("ems",)  # kept
    assert (s.entry("travel_first_unit").target_s, s.entry("travel_first_unit").percentile) == (
        300.0,
        80.0,
    )
    new = s.entry("total_response")
    assert (new.metric, new.start, new.end, new.target_s, new.call_category) == (
        "total_response",
        "call_received_at",
        "on_scene_at",
        500.0,
        ("fire",),
    )
    assert s.staff_of("ENGINE") == 3 and s.staff_of("TRUCK") == 4 and s.staff_of("x") == 1
    assert any(o.startswith("targets.turnout_ems: target_s = 70") for o in s.overrides)
    assert load_standard("nfpa1710").entry("turnout_ems").target_s == 60  # untouched


def test_overrides_dict_and_demand_zone_and_path(tmp_path):
    s = load_standard(
        "nfpa1720", {"demand_zones": {"suburban": {"percentile": 90}, "remote": {"target_s": 1200}}}
    )
    assert s.demand_zones["suburban"].percentile == 90 and s.demand_zones["suburban"].staff == 10
    assert (
        s.demand_zones["remote"].target_s == 1200 and s.demand_zones["remote"].target_note is None
    )
    own = tmp_path / "local.toml"
    own.write_text('[profile]\nname = "metro"\n[targets.call_processing]\ntarget_s = 45\n')
    m = load_standard(own)
    assert m.name == "metro" and m.entry("call_processing").target_s == 45
    assert m.entry("call_processing").percentile == 90  # default percentile


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("nfpa1999",), "unknown standards profile 'nfpa1999'; built-in profiles: cfai, nfpa1225"),
        (
            ("nfpa1710", {"targets": {"turnout_ems": {"target": 70}}}),
            "unknown key target; valid keys: baseline_s, by_density_class, call_category",
        ),
        (
            ("nfpa1710", {"targets": {"turnout_ems": {"percentile": 0}}}),
            "percentile must be a number in \\(0, 100\\]",
        ),
        (
            ("nfpa1710", {"targets": {"turnout_ems": {"target_s": "fast"}}}),
            "target_s must be a number of seconds",
        ),
        (
            ("nfpa1710", {"targets": {"speed": {"target_s": 1}}}),
            "unknown metric 'speed'; valid metrics: incident level alarm_answering",
        ),
        (
            ("nfpa1710", {"targets": {"turnout_ems": {"start": "call_received_at"}}}),
            "start = 'call_received_at' but metric turnout \\(incident\\) is computed with start "
            "'dispatched_at'",
        ),
        (("nfpa1710", {"targets": {"erf2": {"metric": "erf_travel"}}}), "needs staff"),
        (("nfpa1710", {"staffing": {"ENGINE": -1}}), "ENGINE must be a whole number >= 0"),
        (
            ("nfpa1720", {"demand_zones": {"frontier": {"target_s": 10}}}),
            "staff must be a positive",
        ),
    ],
)
def test_errors_name_the_fix(args, match):
    with pytest.raises(StandardError, match=match) as exc:
        load_standard(*args)
    assert isinstance(exc.value, DispatchError) and isinstance(exc.value, ValueError)


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[targets.turnout\n")
    with pytest.raises(StandardError, match="is not valid TOML"):
        load_standard(bad)
    with pytest.raises(StandardError, match="not found"):
        load_standard(tmp_path / "missing.toml")
    with pytest.raises(StandardError, match="overrides file .* not found"):
        load_standard("nfpa1710", tmp_path / "nope.toml")
    top = tmp_path / "top.toml"
    top.write_text("[target.turnout]\ntarget_s = 1\n")
    with pytest.raises(StandardError, match="unknown key target; valid keys: demand_zones"):
        load_standard(top)
    with pytest.raises(StandardError, match="has no entry 'x'; entries: call_processing"):
        load_standard("nfpa1710").entry("x")


def test_metric_registry_levels():
    assert {lvl for (_, lvl) in METRICS} == {"incident", "unit"}
    assert metric_def("travel", "unit").basis == "each unit"
    assert "first-arriving unit" in metric_def("travel").basis
    with pytest.raises(StandardError, match="unit-level metrics: turnout, travel, response"):
        metric_def("total_response", "unit")
