"""A smarter profile-template (issue 11.8): guesses checked against the sampled values, how
sure each is, a discipline column as call_category."""

from __future__ import annotations

import datetime as dt
import tomllib

from conftest import write_csv

from dispatch_analytics.ingest.template import profile_template


def _rows(n=10):
    rows = []
    t0 = dt.datetime(2024, 2, 1, 8, 0, 0)
    for i in range(n):
        rcvd = t0 + dt.timedelta(hours=i)
        created = rcvd - dt.timedelta(seconds=30)  # the CAD event was opened before
        disp = rcvd + dt.timedelta(seconds=60)
        arrv = disp + dt.timedelta(seconds=400)
        rows.append(
            [
                f"C{i // 2}",
                f"E{i % 2}",
                _s(rcvd),
                _s(disp),
                _s(created),
                _s(arrv),
                ["FIRE", "EMS", "POLICE"][i % 3],
            ]
        )
    return rows


def _s(t):
    return t.strftime("%m/%d/%Y %H:%M:%S")


HEADER = [
    "Incident Number",
    "Unit ID",
    "Received DtTm",
    "Dispatch DtTm",
    "Response DtTm",
    "On Scene DtTm",
    "Discipline",
]


def test_a_stage_whose_values_precede_dispatch_is_not_en_route(tmp_path):
    """'Response DtTm' is SF's en route name, but here it holds the call's creation time."""
    path = write_csv(tmp_path / "calls.csv", HEADER, _rows())
    text = profile_template(path, timezone="America/Chicago")
    data = tomllib.loads(text)
    assert "enroute_at" not in data["columns"]
    assert (
        '# ? = "Response DtTm"  # not enroute_at: values come before dispatched_at in 10 of 10'
        in text
    )
    assert data["columns"]["on_scene_at"] == "On Scene DtTm"
    # how sure each guess is, said on its line
    line = next(x for x in text.splitlines() if x.startswith("dispatched_at ="))
    assert "sure: name and stage order fit" in line


def test_a_discipline_column_is_the_call_category(tmp_path):
    path = write_csv(tmp_path / "calls.csv", HEADER, _rows())
    text = profile_template(path, timezone="America/Chicago")
    data = tomllib.loads(text)
    assert data["columns"]["call_category"] == "Discipline"
    line = next(x for x in text.splitlines() if x.startswith("call_category ="))
    assert "EMS / FIRE / POLICE" in line and "likely" in line
    assert "categories" not in data  # the column gives the category itself
