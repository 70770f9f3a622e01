"""Alerts once per (data version, agency), over all the agency's calls, under a lock: threads
and processes racing produce exactly one evaluation and one alert record per data version;
viewers (whatever their filters) read the stored result."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from dash_app import views
from dash_app.alerts import alerts_dir, stored_alerts
from dash_app.data import DataSource
from dash_app.filters import Filters
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

STRICT = {"total_response": (300.0, 90.0), "travel": (None, 90.0)}  # few arrive in 5 min
WIN, MIN_N = 30, 5  # a 30-day window, groups of 5 calls or more


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("alerts_once")
    c = generate_city(root / "city", n_incidents=400, seed=8)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    from dispatch_analytics.spatial.zones import load_zones

    load_zones(root / "store", c.station_areas_geojson, "station_areas", "station_id")
    return root / "store"


@pytest.fixture
def store(city, tmp_path):
    dest = tmp_path / "store"
    shutil.copytree(city, dest)
    return dest


def _evaluations(root: Path) -> list[dict]:
    p = alerts_dir(root) / "evaluations.log"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_threads_racing_evaluate_once(store):
    ds = DataSource(store)
    snap = ds.snapshot()
    agency = snap.default_agency
    log = store / "alerts.log"
    results, errors = [], []
    go = threading.Barrier(8)

    def viewer():
        try:
            go.wait()
            results.append(stored_alerts(store, snap, agency, STRICT, WIN, MIN_N, log))
        except Exception as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=viewer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(_evaluations(store)) == 1
    assert all(r == results[0] for r in results) and results[0]
    logged = log.read_text().splitlines()
    assert len(logged) == len(results[0])  # each alert recorded once
    # a new data version is evaluated again, once
    snap2 = dataclasses.replace(snap, version=snap.version + "+1")
    for _ in range(3):
        stored_alerts(store, snap2, agency, STRICT, WIN, MIN_N, log)
    assert [e["version"] for e in _evaluations(store)] == [snap.version, snap2.version]


def _race(root: str, go, out):
    ds = DataSource(root)
    snap = ds.snapshot()
    go.wait()
    got = stored_alerts(
        Path(root), snap, snap.default_agency, STRICT, WIN, MIN_N, Path(root) / "a.log"
    )
    out.put([a.key for a in got])


@pytest.mark.slow
def test_two_processes_racing_evaluate_once(store):
    ctx = mp.get_context("spawn")
    go, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(store), go, out)) for _ in range(2)]
    for p in procs:
        p.start()
    keys = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert keys[0] == keys[1] and keys[0]
    ev = _evaluations(store)
    assert len(ev) == 1
    assert len((store / "a.log").read_text().splitlines()) == len(keys[0])
    # both processes opened the one snapshot file
    assert len(list((store / "cache" / "dashboard").glob("snapshot-*.duckdb"))) == 1


def test_alerts_cover_all_calls_not_the_viewers_filters(store):
    ds = DataSource(store)
    snap = ds.snapshot()
    agency = snap.default_agency
    # the viewer looks at EMS calls of one day; the alerts are over every call of the window
    f = Filters(agency=agency, categories=("ems",), layer="station_areas")
    _, narrow = views.overview_view(ds, f, {}, None, WIN, MIN_N, alert_targets=STRICT)
    _, wide = views.overview_view(ds, Filters(), {}, None, WIN, MIN_N, alert_targets=STRICT)
    assert str(narrow) == str(wide)
    assert len(_evaluations(store)) == 1
    alerts = stored_alerts(store, snap, agency, STRICT, WIN, MIN_N)
    overall = next(a for a in alerts if a.scope == "all")
    # brute force over the snapshot's rows with pandas: the window's total response
    df = snap.query(
        "select local_date, total_response_s, zone__station_areas as zone from inc "
        "where agency = $a",
        {"a": agency},
    ).to_pandas()
    end = df["local_date"].max()
    win = df[df["local_date"] >= end - timedelta(days=WIN - 1)]
    vals = win["total_response_s"].dropna()
    assert overall.n == len(vals)
    assert overall.compliance == pytest.approx((vals <= 300).mean())
    assert overall.window_end == pd.Timestamp(end).date()
    # per zone of the agency's layer too, each with at least min_n calls and below 90 %
    per_zone = {a.scope: a for a in alerts if a.scope.startswith("station_areas:")}
    want = {}
    for zone, g in win.dropna(subset=["zone"]).groupby("zone"):
        v = g["total_response_s"].dropna()
        if len(v) >= MIN_N and (v <= 300).mean() < 0.9:
            want[f"station_areas:{zone}"] = (v <= 300).mean()
    assert want and {k: a.compliance for k, a in per_zone.items()} == pytest.approx(want)
    assert not any(a.metric == "travel" for a in alerts)  # no target, no alert


def test_agency_without_calls_has_no_alerts(store):
    ds = DataSource(store)
    snap = ds.snapshot()
    assert stored_alerts(store, snap, "No Such FD", STRICT) == []
