"""bench/goals.py: the speed goals every bench script records and `make bench` prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import goals  # noqa: E402


def test_goals_are_written_read_and_judged(tmp_path):
    goals.write_goal(
        "q", work="p90", measured="1.6 s vs 1.2 s", ratio=1.33, goal="<= 1.5x", directory=tmp_path
    )
    goals.write_goal(
        "w",
        work="job",
        measured="3 s vs 9 s",
        ratio=3.0,
        goal=">= 5x",
        directory=tmp_path,
        detail="ingest 2.5 s",
    )
    goals.write_goal(
        "d", work="p95", measured="p95 450 ms", value=450, goal="p95 < 300 ms", directory=tmp_path
    )
    rec = json.loads((tmp_path / "q.json").read_text())
    assert {k: rec[k] for k in ("ratio", "value", "goal", "met")} == {
        "ratio": 1.33,
        "value": None,
        "goal": "<= 1.5x",
        "met": True,
    }
    found, problems = goals.read_goals(tmp_path)
    assert problems == [] and sorted(found) == ["d", "q", "w"]
    assert [found[k]["met"] for k in ("d", "q", "w")] == [False, True, False]
    text = goals.table(found)
    assert "1 of 3 goals met" in text
    assert "only 60% of the goal (3x vs 5x)" in text
    assert "1.50x the limit (450 ms vs 300 ms)" in text
    assert "w: 3 s vs 9 s; ingest 2.5 s" in text


@pytest.mark.parametrize(
    ("goal", "number", "met"),
    [
        ("<= 1.5x", 1.5, True),
        ("<= 1.5x", 1.51, False),
        (">= 5x", 5, True),
        (">= 5x", 4.9, False),
        ("p95 < 300 ms", 299.9, True),
        ("p95 < 300 ms", 300, False),
        ("<= 2x", None, False),
        ("<= 2x", float("nan"), False),
    ],
)
def test_goal_met(goal, number, met):
    assert goals.goal_met(goal, number) is met


def test_bad_goals_and_keys_say_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"`goal` 'fast' must be a comparison and a number"):
        goals.write_goal("k", work="w", measured="m", goal="fast", directory=tmp_path)
    with pytest.raises(ValueError, match=r"goal `key` 'a b' must be letters"):
        goals.write_goal("a b", work="w", measured="m", goal="<= 1x", directory=tmp_path)


def test_the_script_prints_the_table_and_flags_unreadable_files(tmp_path):
    goals.write_goal("q", work="p90", measured="m", ratio=2.0, goal="<= 1.5x", directory=tmp_path)
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    (tmp_path / "partial.json").write_text('{"work": "x"}', encoding="utf-8")
    res = subprocess.run(
        [sys.executable, str(BENCH / "goals.py"), "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1
    assert "MISSED" in res.stdout and "1.33x the limit (2x vs 1.5x)" in res.stdout
    assert "broken.json: not a goal file" in res.stderr
    assert "partial.json: lacks measured, ratio, value, goal, met, detail" in res.stderr
    empty = subprocess.run(
        [sys.executable, str(BENCH / "goals.py"), "--dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert empty.returncode == 0 and "No speed goals recorded" in empty.stdout
