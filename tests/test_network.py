"""The road-network option: a GraphML grid written here, calls generated on it with a known
speed; the model recovers the speed and the grid's circuity, coverage travels by road
(checked against networkx's Dijkstra), and bad networks get clear messages."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.analysis.coverage import Coverage
from dispatch_analytics.analysis.network import RoadNetwork
from dispatch_analytics.analysis.travel_model import TravelModel
from dispatch_analytics.analysis.whatif import WhatIf
from dispatch_analytics.cli import main
from dispatch_analytics.errors import CoverageError
from dispatch_analytics.spatial.distance import haversine_m
from dispatch_analytics.spatial.stations import load_stations
from dispatch_analytics.spatial.units import load_units
from dispatch_analytics.spatial.zones import load_zones

TOML = Path(__file__).parent / "data" / "coverage" / "town_calls.toml"
LAT0, LON0 = 40.0, -100.0
STEP_M = 200.0
NI, NJ = 26, 11  # 5 km (east) x 2 km (north)
DLAT = STEP_M / 111_195.0
DLON = STEP_M / (111_195.0 * math.cos(math.radians(LAT0)))
SPEED, INTERCEPT = 11.0, 35.0


def node_xy(i, j):
    return LON0 + i * DLON, LAT0 + j * DLAT


def grid_graph(lon_shift: float = 0.0) -> nx.Graph:
    g = nx.Graph()
    for i in range(NI):
        for j in range(NJ):
            x, y = node_xy(i, j)
            g.add_node(f"{i}_{j}", x=x + lon_shift, y=y)
    for i in range(NI):
        for j in range(NJ):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < NI and j + dj < NJ:
                    a, b = g.nodes[f"{i}_{j}"], g.nodes[f"{i + di}_{j + dj}"]
                    length = float(haversine_m(a["y"], a["x"], b["y"], b["x"]))
                    g.add_edge(f"{i}_{j}", f"{i + di}_{j + dj}", length=length)
    return g


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store of 700 calls whose travel is a + road distance / v (lognormal noise), the
    GraphML grid, and the independent road distances the generator used."""
    d = tmp_path_factory.mktemp("net")
    g = grid_graph()
    nx.write_graphml(g, d / "grid.graphml")
    stations = {"S1": (3, 5), "S2": (21, 5)}
    with open(d / "stations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["station_id", "latitude", "longitude"])
        for sid, (i, j) in stations.items():
            x, y = node_xy(i, j)
            w.writerow([sid, f"{y:.8f}", f"{x:.8f}"])
    (d / "units.csv").write_text("unit_id,station_id,unit_type\nE1,S1,ENGINE\nE2,S2,ENGINE\n")
    rng = np.random.default_rng(3)
    rows, truth = [], []
    t0 = datetime(2024, 5, 1)
    for n in range(700):
        i, j = int(rng.integers(0, NI)), int(rng.integers(0, NJ))
        sid = "S1" if abs(i - 3) < abs(i - 21) else "S2"
        si, sj = stations[sid]
        road = nx.shortest_path_length(g, f"{si}_{sj}", f"{i}_{j}", weight="length")
        x, y = node_xy(i, j)
        sx, sy = node_xy(si, sj)
        truth.append((road, float(haversine_m(sy, sx, y, x))))
        travel = (INTERCEPT + road / SPEED) * math.exp(rng.normal(0, 0.1))
        rcvd = t0 + timedelta(minutes=23 * n)
        enrt = rcvd + timedelta(seconds=90)
        f = "%Y-%m-%d %H:%M:%S"
        rows.append(
            [
                f"N{n:04d}",
                "E1" if sid == "S1" else "E2",
                "Medical",
                rcvd.strftime(f),
                (rcvd + timedelta(seconds=40)).strftime(f),
                enrt.strftime(f),
                (enrt + timedelta(seconds=round(travel))).strftime(f),
                f"{y:.8f}",
                f"{x:.8f}",
            ]
        )
    with open(d / "calls.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["inc", "unit", "type", "rcvd", "disp", "enrt", "arrv", "lat", "lon"])
        w.writerows(rows)
    x0, y0 = node_xy(0, 0)
    x1, y1 = node_xy(NI - 1, NJ - 1)
    (d / "area.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"zone": "A"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                        },
                    }
                ],
            }
        )
    )
    root = d / "store"
    ingest(d / "calls.csv", load_profile(TOML), data_dir=root)
    load_stations(root, d / "stations.csv")
    load_units(root, d / "units.csv")
    load_zones(root, d / "area.geojson", "area", "zone")
    return {"dir": d, "root": root, "graph": g, "truth": np.array(truth)}


def test_network_model_recovers_speed_and_circuity(world):
    m = TravelModel.from_store(Store(world["root"]), network=world["dir"] / "grid.graphml")
    b = m.bands["all"]
    assert m.distance == "network" and m.network["sha256"]
    # stated error: speed within 3%, intercept within 8 s
    assert 1 / b.slope_s_per_m == pytest.approx(SPEED, rel=0.03)
    assert b.intercept_s == pytest.approx(INTERCEPT, abs=8)
    assert m.speed_kph == pytest.approx(SPEED * 3.6, rel=0.03)
    road, straight = world["truth"][:, 0], world["truth"][:, 1]
    far = straight >= 300
    assert m.circuity == pytest.approx(float(np.median(road[far] / straight[far])), rel=0.02)
    assert m.holdout["n"] > 80 and m.holdout["median_abs_pct_error"] < 0.15
    # a straight-line fit of the same calls is worse on held-out calls
    sl = TravelModel.from_store(Store(world["root"]))
    assert m.holdout["median_abs_error_s"] < sl.holdout["median_abs_error_s"]


def test_coverage_travels_by_road(world, tmp_path):
    root = world["root"]
    m = TravelModel.from_store(Store(root), network=world["dir"] / "grid.graphml")
    m.save(root)
    cov = Coverage.from_store(Store(root), target_s=180, resolution=9, layer="area")
    assert cov.network is not None and "road network" in cov.metadata["travel"]
    g = world["graph"]
    nodes = list(g.nodes)
    nlat = np.array([g.nodes[n]["y"] for n in nodes])
    nlon = np.array([g.nodes[n]["x"] for n in nodes])
    st = {"S1": "3_5", "S2": "21_5"}
    for r in cov.cells.sample(8, seed=1).to_dicts():
        snap = haversine_m(r["latitude"], r["longitude"], nlat, nlon)
        k = int(np.argmin(snap))
        road = min(nx.shortest_path_length(g, s, nodes[k], weight="length") for s in st.values())
        want = m.predict([road + snap[k]])[0]
        assert r["travel_s"] == pytest.approx(want, rel=1e-6)
    # a what-if keeps travelling by road
    wi = WhatIf.from_coverage(cov, add=[node_xy(12, 5)])
    assert wi.after.network is cov.network
    assert wi.after.summary["covered_demand"] >= cov.summary["covered_demand"]


def test_a_network_that_does_not_cover_the_incidents(world, tmp_path):
    nx.write_graphml(grid_graph(lon_shift=0.5), tmp_path / "elsewhere.graphml")
    with pytest.raises(
        CoverageError,
        match=r"does not cover the incidents: 700 of 700 \(100%\) "
        r"are more than 300 m from any node .* give a "
        r"network covering the service area",
    ):
        TravelModel.from_store(Store(world["root"]), network=tmp_path / "elsewhere.graphml")


def test_bad_network_files(tmp_path):
    g = nx.path_graph(3)
    nx.write_graphml(g, tmp_path / "nocoords.graphml")
    with pytest.raises(CoverageError, match=r"its nodes have no coordinates \(attributes x / y"):
        RoadNetwork.read(tmp_path / "nocoords.graphml")
    (tmp_path / "city.osm").write_text("<osm/>")
    with pytest.raises(CoverageError, match=r"only GraphML is read .* convert it with OSMnx"):
        RoadNetwork.read(tmp_path / "city.osm")
    (tmp_path / "bad.graphml").write_text("not xml")
    with pytest.raises(CoverageError, match=r"is not a readable GraphML file"):
        RoadNetwork.read(tmp_path / "bad.graphml")
    with pytest.raises(CoverageError, match=r"no such file"):
        RoadNetwork.read(tmp_path / "missing.graphml")


def test_a_changed_network_asks_for_a_refit(world, tmp_path):
    p = tmp_path / "grid.graphml"
    nx.write_graphml(world["graph"], p)
    m = TravelModel.from_store(Store(world["root"]), network=p)
    nx.write_graphml(grid_graph(lon_shift=0.001), p)
    with pytest.raises(CoverageError, match=r"fitted on the network .* which is changed; refit"):
        m.load_network()
    p.unlink()
    with pytest.raises(CoverageError, match=r"which is missing; refit"):
        m.load_network()


def test_cli_fit_with_a_network(world, capsys, tmp_path):
    code = main(
        [
            "coverage",
            "fit",
            "--network",
            str(world["dir"] / "grid.graphml"),
            "--data-dir",
            str(world["root"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "measured circuity" in " ".join(out.split())
    nx.write_graphml(grid_graph(lon_shift=0.5), tmp_path / "far.graphml")
    code = main(
        [
            "coverage",
            "fit",
            "--network",
            str(tmp_path / "far.graphml"),
            "--data-dir",
            str(world["root"]),
        ]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "does not cover the incidents" in err
