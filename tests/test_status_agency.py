"""Issue 9: ``dispatch status`` split by agency (one row per agency; JSON with a per-agency
list; rows in = accepted + rejected in total and per agency), checked against pandas on the
source files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics_helpers as H  # noqa: E402

from dispatch_analytics.cli import app  # noqa: E402
from dispatch_analytics.metrics.agencies import agency_status  # noqa: E402


def _run(*args):
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("status") / "store"
    store = H.sample_store(root)
    code, out = _run(
        "zones",
        "load",
        str(H.CITY_AREAS),
        "--layer",
        "city_areas",
        "--id-field",
        "station_id",
        "--agency",
        "Sample City FD",
        "--data-dir",
        str(root),
    )
    assert code == 0, out
    code, out = _run(
        "zones",
        "load",
        str(H.CITY_AREAS),
        "--layer",
        "shared_areas",
        "--id-field",
        "station_id",
        "--data-dir",
        str(root),
    )
    assert code == 0, out
    code, out = _run(
        "stations",
        "load",
        str(H.CITY_STATIONS),
        "--id-field",
        "station_id",
        "--agency",
        "Sample City FD",
        "--data-dir",
        str(root),
    )
    assert code == 0, out
    return store


def _sf_truth():
    df = pd.read_csv(H.SF_SLICE, dtype=str)
    t = pd.to_datetime(df["Received DtTm"], format="%m/%d/%Y %I:%M:%S %p")
    return df, t


@pytest.mark.slow  # two agencies against pandas; fast: test_table_and_csv
def test_json_per_agency_against_pandas(two):
    code, out = _run("status", "--data-dir", str(two.root), "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    tot = doc["totals"]
    assert tot["rows_read"] == tot["rows_accepted"] + tot["rows_rejected"]
    city_rows = len(pd.read_csv(H.CITY_CSV, dtype=str, keep_default_na=False))
    sf, t = _sf_truth()
    assert tot["rows_read"] == city_rows + len(sf)
    per = {a["agency"]: a for a in doc["agencies"]}
    assert set(per) == {"SFFD", "Sample City FD"}
    s = per["SFFD"]
    assert s["incidents"] == sf["Incident Number"].nunique()
    assert s["rows_accepted"] + s["rows_rejected"] == len(sf)
    assert s["timezone"] == "America/Los_Angeles"
    assert (s["first_call_date"], s["last_call_date"]) == (str(t.min().date()), str(t.max().date()))
    assert s["batches"] == 1 and s["zone_layers"] == [] and s["stations"] == 0
    c = per["Sample City FD"]
    assert c["rows_accepted"] + c["rows_rejected"] == city_rows
    assert c["timezone"] == "America/Chicago" and c["zone_layers"] == ["city_areas"]
    stations = json.loads(H.CITY_STATIONS.read_text())["features"]
    assert c["stations"] == len(stations)
    assert sum(a["rows_accepted"] for a in per.values()) == tot["rows_accepted"]
    assert sum(a["rows_rejected"] for a in per.values()) == tot["rows_rejected"]
    assert sum(a["incidents"] for a in per.values()) == tot["incidents"]
    assert doc["shared"] == {"zone_layers": ["shared_areas"], "stations": 0}


def test_flagged_rows_count_time_and_stage_flags(two):
    con = two.connect(read_only=True)
    per = {r["agency"]: r for r in agency_status(con).iter_rows(named=True)}
    df = con.execute("select agency, time_flags, stage_flags from responses").df()
    flagged = df[df.time_flags.notna() | df.stage_flags.notna()].groupby("agency").size()
    for a, r in per.items():
        assert r["flagged_rows"] == int(flagged.get(a, 0))


def test_table_and_csv(two):
    code, out = _run("status", "--data-dir", str(two.root))
    assert code == 0, out
    assert "Per agency" in out and "Sample City FD" in out and "America/Los_Angeles" in out
    assert "Shared by every agency: zone layers shared_areas" in out
    assert "= accepted" in out and "+ rejected" in out
    code, out = _run("status", "--data-dir", str(two.root), "-f", "csv")
    assert code == 0
    csv = pd.read_csv(__import__("io").StringIO(out))
    assert list(csv["agency"]) == ["SFFD", "Sample City FD"]
    assert csv.loc[1, "zone_layers"] == "city_areas"


def test_one_agency_and_empty_store(tmp_path):
    root = tmp_path / "one"
    H.small_store(root, H.HERE / "first_due_erf.csv")
    code, out = _run("status", "--data-dir", str(root), "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert len(doc["agencies"]) == 1
    a = doc["agencies"][0]
    assert a["incidents"] == doc["totals"]["incidents"]
    code, out = _run("status", "--data-dir", str(tmp_path / "nothing"))
    assert code == 1
    code, out = _run("status", "--data-dir", str(root), "-f", "xml")
    assert code == 2 and "must be table, csv, json" in out
