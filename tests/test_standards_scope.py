"""Issue 11: fire and EMS standards profiles leave police calls out of their targets by default
(``[scope] exclude_call_categories``) and say how many they left out; checked against pandas."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.errors import MetricError, StandardError
from dispatch_analytics.metrics.fractiles import Fractiles
from dispatch_analytics.metrics.report import compliance_report
from dispatch_analytics.metrics.standards import load_standard

TOML = """
[source]
grain = "unit"
timezone = "America/Chicago"
timestamp_format = "%Y-%m-%d %H:%M:%S"
crs = "EPSG:4326"
agency = "Mixed PSAP"

[columns]
incident_id = "INC"
unit_id = "UNIT"
unit_type = "UTYPE"
call_type = "NATURE"
call_category = "DISCIPLINE"
call_received_at = "T_RCVD"
dispatched_at = "T_DISP"
enroute_at = "T_ENRT"
on_scene_at = "T_ARRV"
latitude = "LAT"
longitude = "LON"
"""

#: (category, call type, count); response times drawn so police calls are much slower
KINDS = [
    ("fire", "Structure Fire", 7),
    ("ems", "Medical Call", 9),
    ("police", "Police Call", 5),
    ("police", "Theft", 1),
]


def _rows(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, i = [], 0
    t0 = dt.datetime(2024, 3, 4, 8, 0, 0)
    for cat, nature, n in KINDS:
        for _ in range(n):
            i += 1
            rcvd = t0 + dt.timedelta(hours=i)
            proc = int(rng.integers(20, 100)) if cat != "police" else int(rng.integers(300, 900))
            turn = int(rng.integers(30, 120))
            trav = int(rng.integers(120, 600)) if cat != "police" else int(rng.integers(600, 1500))
            disp = rcvd + dt.timedelta(seconds=proc)
            enr = disp + dt.timedelta(seconds=turn)
            arr = enr + dt.timedelta(seconds=trav)
            rows.append(
                {
                    "INC": f"I{i:03d}",
                    "UNIT": "U1",
                    "UTYPE": "ENGINE" if cat != "police" else "CAR",
                    "NATURE": nature,
                    "DISCIPLINE": cat.upper(),
                    "T_RCVD": rcvd,
                    "T_DISP": disp,
                    "T_ENRT": enr,
                    "T_ARRV": arr,
                    "LAT": 30.25,
                    "LON": -97.7,
                    "category": cat,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    d = tmp_path_factory.mktemp("scope")
    df = _rows()
    out = df.drop(columns=["category"]).copy()
    for c in ("T_RCVD", "T_DISP", "T_ENRT", "T_ARRV"):
        out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.to_csv(d / "mixed.csv", index=False)
    (d / "mixed.toml").write_text(TOML)
    ingest(str(d / "mixed.csv"), load_profile(str(d / "mixed.toml")), data_dir=d / "store")
    return Store(d / "store"), df, d


def _nearest_rank(values, p):
    v = np.sort(np.asarray(values, dtype=float))
    return float(v[math.ceil(p / 100 * len(v)) - 1])


def test_builtins_leave_police_out_and_psap_profile_does_not():
    for name in ("nfpa1710", "nfpa1720", "cfai"):
        assert load_standard(name).exclude_call_categories == ("police",)
    assert load_standard("nfpa1225").exclude_call_categories == ()


def test_call_processing_excludes_police_against_pandas(mixed):
    store, df, _ = mixed
    f = Fractiles.from_store(store, metric="call_processing", profile="nfpa1710")
    judged = df[df.category != "police"]
    proc = (judged.T_DISP - judged.T_RCVD).dt.total_seconds()
    row = f.table.row(0, named=True)
    assert row["n"] == len(judged) == 16
    assert row["p_value_s"] == _nearest_rank(proc, 90)
    assert row["compliance"] == pytest.approx((proc <= row["target_s"]).mean())
    assert f.out_of_scope == {"police": int((df.category == "police").sum())} == {"police": 6}
    assert f.scope_note.startswith("6 police calls not judged against NFPA 1710")
    assert f.scope_note in f.notes


def test_profile_none_or_psap_profile_judges_every_call(mixed):
    store, df, _ = mixed
    proc = (df.T_DISP - df.T_RCVD).dt.total_seconds()
    for prof in (None, "nfpa1225"):
        f = Fractiles.from_store(store, metric="call_processing", profile=prof, target_s=60)
        assert f.table["n"][0] == len(df)
        assert f.table["p_value_s"][0] == _nearest_rank(proc, 90)
        assert f.out_of_scope == {} and f.scope_note is None


def test_override_scope_includes_police(mixed, tmp_path):
    store, df, _ = mixed
    cfg = tmp_path / "local.toml"
    cfg.write_text("[scope]\nexclude_call_categories = []\n")
    f = Fractiles.from_store(store, metric="call_processing", profile="nfpa1710", overrides=cfg)
    assert f.table["n"][0] == len(df)
    assert f.out_of_scope == {}
    assert any("scope: exclude_call_categories = []" in o for o in f.standard.overrides)
    # and the other way: leave EMS out too
    f2 = Fractiles.from_store(
        store,
        metric="call_processing",
        profile="nfpa1710",
        overrides={"scope": {"exclude_call_categories": ["police", "EMS"]}},
    )
    assert f2.table["n"][0] == int((df.category == "fire").sum())
    assert f2.out_of_scope == {"ems": 9, "police": 6}
    assert f2.scope_note.startswith("6 police and 9 ems calls not judged")


def test_filters_narrow_the_count(mixed):
    store, df, _ = mixed
    f = Fractiles.from_store(
        store, metric="travel", profile="nfpa1710", filters={"call_type": ["Theft"]}
    )
    assert f.table["n"][0] == 0 and f.out_of_scope == {"police": 1}
    assert f.scope_note.startswith("1 police calls")


def test_the_counts_come_with_the_table_or_from_their_own_query_when_it_is_empty(mixed):
    store, df, _ = mixed
    # grouped: the statement returns the counts as a column, which the table does not keep
    f = Fractiles.from_store(
        store, metric="call_processing", profile="nfpa1710", by=["call_category"]
    )
    assert f.out_of_scope == {"police": 6} and f.table.height == 2
    assert "_out_of_scope" not in f.table.columns
    # grouped, and every judged call filtered out: no rows to carry them, so they are counted
    g = Fractiles.from_store(
        store,
        metric="travel",
        profile="nfpa1710",
        by=["call_category"],
        filters={"call_type": ["Theft"]},
    )
    assert g.table.height == 0 and g.out_of_scope == {"police": 1}
    assert "_out_of_scope" not in g.table.columns


def test_report_says_it_in_one_line(mixed):
    store, df, _ = mixed
    rep = compliance_report(store, profile="nfpa1710")
    assert rep.out_of_scope == {"police": 6}
    text = rep.to_text()
    assert text.count("6 police calls not judged against NFPA 1710") == 1
    assert rep.metadata["out_of_scope"] == {"police": 6}
    cp = rep.table.filter(rep.table["standard"] == "call_processing")
    assert cp["n"][0] == 16


def test_cli_report_and_gaps_say_it(mixed):
    import json

    from typer.testing import CliRunner

    from dispatch_analytics.cli import app

    store, _, _ = mixed
    r = CliRunner().invoke(app, ["report", "--data-dir", str(store.root), "--profile", "nfpa1710"])
    assert r.exit_code == 0, r.output
    assert "6 police calls not judged against NFPA 1710" in " ".join(r.output.split())
    r = CliRunner().invoke(
        app, ["report", "--data-dir", str(store.root), "--profile", "cfai", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["out_of_scope"] == {"police": 6} and doc["scope_note"].startswith("6 police calls")


@pytest.mark.parametrize(
    "scope, match",
    [
        ('exclude_call_categories = "police"', r"exclude_call_categories must be a list"),
        ("exclude = []", r"\[scope\]: unknown key exclude; valid keys: exclude_call_categories"),
        ("exclude_call_categories = [1]", r"must be a list of call categories"),
    ],
)
def test_scope_errors_name_the_fix(tmp_path, scope, match):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[scope]\n{scope}\n")
    with pytest.raises(StandardError, match=match):
        load_standard("nfpa1710", cfg)
    with pytest.raises(MetricError, match=match):
        Fractiles.from_store(__import__("duckdb").connect(), profile="nfpa1710", overrides=cfg)
