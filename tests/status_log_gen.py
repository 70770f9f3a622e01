"""A small generator of CAD unit status logs (one row per status change), for the event-grain
tests: each call has an RCVD row without a unit, then each unit's DISP / ENRT / ONSC / AVAIL;
some units are cancelled (DISP, AVAIL) and re-dispatched, some rows carry codes the profile
does not know."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

HEADER = ["INCIDENT", "UNIT", "STATUS", "STATUS_TIME", "NATURE", "PRIORITY", "LAT", "LON"]


def status_log(n_calls: int, seed: int = 0) -> tuple[list[list[str]], dict]:
    """Rows of a status log and what they must pivot to.

    Returns
    -------
    rows : list of list of str
    expected : dict
        ``(incident, unit, assignment) -> {stage: datetime}`` (local times), and the counts
        ``unknown`` (rows with a code not in the profile).
    """
    rng = random.Random(seed)
    rows, expected, unknown = [], {}, 0
    t0 = dt.datetime(2024, 6, 1, 8, 0, 0)
    for c in range(n_calls):
        inc = f"24-{c:05d}"
        rcvd = t0 + dt.timedelta(minutes=37 * c, seconds=rng.randint(0, 59))
        nature = rng.choice(["MEDICAL", "FIRE ALARM", "FALL"])
        lat, lon = f"{41.8 + rng.random() / 10:.5f}", f"{-87.7 + rng.random() / 10:.5f}"
        rows.append([inc, "", "RCVD", rcvd.strftime("%Y-%m-%d %H:%M:%S"), nature, "1", lat, lon])
        for u in range(rng.randint(1, 3)):
            unit = f"E{u + 1}"
            t = rcvd + dt.timedelta(seconds=rng.randint(30, 90))
            assignment = 1
            if rng.random() < 0.3:  # dispatched, cancelled, re-dispatched later
                cancel = t + dt.timedelta(seconds=40)
                rows.append([inc, unit, "DISP", _s(t), nature, "1", lat, lon])
                rows.append([inc, unit, "AVAIL", _s(cancel), nature, "1", lat, lon])
                expected[(inc, unit, 1)] = {
                    "call_received_at": rcvd,
                    "dispatched_at": t,
                    "cleared_at": cancel,
                }
                assignment, t = 2, cancel + dt.timedelta(seconds=rng.randint(60, 300))
            stages = {"call_received_at": rcvd, "dispatched_at": t}
            stages["enroute_at"] = t + dt.timedelta(seconds=rng.randint(20, 90))
            stages["on_scene_at"] = stages["enroute_at"] + dt.timedelta(
                seconds=rng.randint(120, 600)
            )
            stages["cleared_at"] = stages["on_scene_at"] + dt.timedelta(minutes=rng.randint(10, 40))
            code = {
                "dispatched_at": "DISP",
                "enroute_at": "ENRT",
                "on_scene_at": "ONSC",
                "cleared_at": "AVAIL",
            }
            for stage, when in stages.items():
                if stage != "call_received_at":
                    rows.append([inc, unit, code[stage], _s(when), nature, "1", lat, lon])
            if rng.random() < 0.2:  # a second en route (repeated status): the first counts
                rows.append(
                    [
                        inc,
                        unit,
                        "ENRT",
                        _s(stages["enroute_at"] + dt.timedelta(seconds=5)),
                        nature,
                        "1",
                        lat,
                        lon,
                    ]
                )
            if rng.random() < 0.15:
                rows.append([inc, unit, "XFER", _s(stages["on_scene_at"]), nature, "1", lat, lon])
                unknown += 1
            expected[(inc, unit, assignment)] = stages
    return rows, {"stages": expected, "unknown": unknown}


def _s(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def write_status_log(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return path
