"""Per-interval exclusion (issue 11.1): a bad stage excludes the intervals that use it, the row
stays, and every metric says how many values it excluded and why."""

from __future__ import annotations

import itertools

import pytest
from conftest import UNIT_HEADER, UNIT_TOML, examples, unit_row, write_csv, write_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_analytics import ProfileError, Store, ingest, load_profile
from dispatch_analytics.ingest.stages import keep_in_order
from dispatch_analytics.metrics.fractiles import Fractiles


def _brute(values, anchor):
    n = len(values)
    for size in range(n, 0, -1):
        for combo in itertools.combinations(range(n), size):
            if (anchor is None or anchor in combo) and all(
                values[a] <= values[b] for a, b in itertools.pairwise(combo)
            ):
                return list(combo)
    return []


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=8), st.data())
def test_keep_in_order_is_the_brute_force_choice(values, data):
    anchor = data.draw(st.one_of(st.none(), st.integers(0, len(values) - 1)))
    assert keep_in_order(values, anchor) == _brute(values, anchor)


# ------------------------------------------------------------ an incident-grain export
INC_HEADER = ["CALL", "RCVD", "DISP", "ENRT", "ARRV", "CLR"]
INC_TOML = """
[source]
grain = "incident"
timezone = "America/Chicago"
timestamp_format = "%Y-%m-%d %H:%M:%S"

[columns]
incident_id = "CALL"
call_received_at = "RCVD"
dispatched_at = "DISP"
enroute_at = "ENRT"
on_scene_at = "ARRV"
cleared_at = "CLR"
"""


def _inc_rows():
    """12 calls: 4 whose first unit cleared before the first unit arrived (a cancelled unit),
    1 dispatched before it was received, 1 with a blank arrival, 6 clean."""
    rows = []
    for i in range(12):
        d = f"2024-05-0{1 + i % 9} 10:"
        row = [f"C{i}", d + "00:00", d + "01:00", d + "02:00", d + "08:00", d + "30:00"]
        if i < 4:
            row[5] = d + "05:00"  # cleared before arrival
        elif i == 4:
            row[2] = f"2024-05-0{1 + i % 9} 09:59:00"  # dispatched before received
        elif i == 5:
            row[4] = ""
        rows.append(row)
    return rows


def test_incident_export_keeps_every_row_and_n_is_explained(tmp_path):
    toml = write_toml(tmp_path / "inc.toml", INC_TOML)
    path = write_csv(tmp_path / "calls.csv", INC_HEADER, _inc_rows())
    report = ingest(path, load_profile(toml), data_dir=tmp_path / "s")
    assert report.rows_read == 12 == report.rows_accepted
    store = Store(tmp_path / "s")
    inc = store.sql("select incident_id, stage_flags, call_processing_s from incidents")
    flagged = dict(zip(inc["incident_id"], inc["stage_flags"], strict=True))
    assert [flagged[f"C{i}"] for i in range(4)] == ["cleared_at:stage_order"] * 4
    assert flagged["C4"] == "dispatched_at:stage_order"
    con = store.connect()
    # call processing: n = calls with both stamps in order (11); the one excluded says why
    cp = Fractiles.from_store(con, metric="call_processing").table.row(0, named=True)
    assert cp["n"] == 11 and cp["n_missing"] == 1
    assert "dispatched_at stage_order: 1" in cp["excluded"]
    travel = Fractiles.from_store(con, metric="travel").table.row(0, named=True)
    assert travel["n"] == 11  # C5 has no arrival; C4 lost its turnout, its travel counts
    assert "missing enroute_at and on_scene_at: 1" in travel["excluded"]  # no arrival
    # each unit's turnout: C5 (no arrival) counts, C4 (dispatch excluded) does not
    turnout = Fractiles.from_store(con, metric="turnout", level="unit").table.row(0, named=True)
    assert turnout["n"] == 11 and turnout["excluded"] == "dispatched_at stage_order: 1"


def test_reject_mode_keeps_the_strict_behaviour(tmp_path):
    toml = write_toml(
        tmp_path / "inc.toml", INC_TOML + '\n[validation]\non_stage_error = "reject"\n'
    )
    path = write_csv(tmp_path / "calls.csv", INC_HEADER, _inc_rows())
    report = ingest(path, load_profile(toml), data_dir=tmp_path / "s")
    assert report.rejects_by_reason == {"stage_order": 5}
    assert report.rows_accepted == 7


def test_on_stage_error_is_validated(tmp_path):
    toml = write_toml(tmp_path / "x.toml", UNIT_TOML + 'on_stage_error = "drop"\n')
    with pytest.raises(ProfileError, match="`on_stage_error` 'drop' must be 'exclude'"):
        load_profile(toml)


def test_first_times_ignore_flagged_stages(tmp_path, unit_toml):
    """Unit M1's arrival (before it was dispatched) is excluded: the first on scene is E2's."""
    rows = [
        unit_row(inc="A", unit="M1", arrv="01/15/2024 09:30:00"),
        unit_row(inc="A", unit="E2", arrv="01/15/2024 10:09:00"),
    ]
    ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(unit_toml),
        data_dir=tmp_path / "s",
    )
    row = Store(tmp_path / "s").sql("select * from incidents").row(0, named=True)
    assert row["first_arriving_unit"] == "E2"
    assert row["total_response_s"] == 540.0
    assert row["stage_flags"] == "on_scene_at:stage_order"


def test_unparseable_and_too_long_stages_are_flagged_with_raw_value(tmp_path, unit_toml):
    rows = [
        unit_row(inc="A", enrt="soon"),
        unit_row(inc="B", arrv="01/15/2024 12:30:00", clr="01/15/2024 13:00:00"),
        unit_row(inc="C", clr="01/20/2024 10:00:00"),
    ]
    report = ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(unit_toml),
        data_dir=tmp_path / "s",
    )
    assert report.rows_accepted == 3
    got = (
        Store(tmp_path / "s")
        .sql(
            "select incident_id, stage_flags, stage_raw, turnout_s, travel_s from responses order by 1"
        )
        .rows()
    )
    assert got[0] == ("A", "enroute_at:unparseable_time", '{"enroute_at": "soon"}', None, None)
    assert got[1][1] == "on_scene_at:interval_too_long" and got[1][3] == 60.0
    assert got[2][1] == "cleared_at:interval_too_long" and got[2][4] == 300.0


def test_missing_call_received_still_rejects(tmp_path, unit_toml):
    rows = [unit_row(inc="A", rcvd=""), unit_row(inc="B", rcvd="nonsense")]
    report = ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(unit_toml),
        data_dir=tmp_path / "s",
    )
    assert report.rejects_by_reason == {"missing_time": 1, "unparseable_time": 1}


# ------------------------------------------------------------ property
_T = ["rcvd", "disp", "enrt", "arrv", "clr"]


@pytest.mark.slow  # a few dozen ingests
@settings(max_examples=examples(25), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(-3, 3), st.booleans()), min_size=1, max_size=12
    )
)
def test_exclusion_never_changes_a_valid_interval(tmp_path_factory, specs):
    """Whatever stage is corrupted, every unit interval that is still there equals the raw
    difference of its two stamps, and a row whose stages are in order keeps all three."""
    import datetime as dt
    import tempfile
    from pathlib import Path

    base = dt.datetime(2024, 1, 15, 10, 0, 0)
    offsets = [0, 60, 120, 420, 2400]
    rows, raw = [], {}
    for i, (stage, minutes, corrupt) in enumerate(specs):
        times = [base + dt.timedelta(seconds=o) for o in offsets]
        if corrupt:
            times[stage] += dt.timedelta(minutes=10 * minutes)
        kw = {k: t.strftime("%m/%d/%Y %H:%M:%S") for k, t in zip(_T, times, strict=True)}
        rows.append(unit_row(inc=f"I{i}", **kw))
        raw[f"I{i}"] = times
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        toml = write_toml(d / "u.toml", UNIT_TOML)
        ingest(write_csv(d / "x.csv", UNIT_HEADER, rows), load_profile(toml), data_dir=d / "s")
        got = (
            Store(d / "s")
            .sql("select incident_id, turnout_s, travel_s, response_s, stage_flags from responses")
            .rows()
        )
    assert len(got) == len(rows)
    for inc, turnout, travel, response, flags in got:
        t = raw[inc]
        want = {
            "turnout": (t[2] - t[1]).total_seconds(),
            "travel": (t[3] - t[2]).total_seconds(),
            "response": (t[3] - t[1]).total_seconds(),
        }
        for name, value in (("turnout", turnout), ("travel", travel), ("response", response)):
            assert value is None or value == want[name]
        if all(a <= b for a, b in itertools.pairwise(t)):
            assert flags is None and (turnout, travel, response) == (
                want["turnout"],
                want["travel"],
                want["response"],
            )
