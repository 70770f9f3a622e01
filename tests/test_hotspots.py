"""Hotspots (Gi* on H3 cells) and emerging hotspots, against direct esda / scipy calls and
generated data with planted clusters; the CLI on the real SF week."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h3
import numpy as np
import polars as pl
import pytest
from conftest import copy_store
from scipy.stats import false_discovery_control

from dispatch_analytics.analysis.emerging import (
    PATTERNS,
    EmergingHotspots,
    mann_kendall,
    pattern_of,
)
from dispatch_analytics.analysis.gistar import fdr_bh, gi_star, h3_weights, study_cells
from dispatch_analytics.analysis.hotspots import Hotspots
from dispatch_analytics.errors import AnalysisError
from dispatch_analytics.store import Store

ROOT = Path(__file__).resolve().parents[1]
SF_WEEK = ROOT / "sample_data" / "sf_week"
CENTRE = (41.88, -87.63)


def _points(rng, n, centre=CENTRE, spread=0.03):
    return pl.DataFrame(
        {
            "latitude": centre[0] + rng.uniform(-spread, spread, n),
            "longitude": centre[1] + rng.uniform(-spread, spread, n),
        }
    )


def _cluster(rng, n, cell):
    """``n`` points inside one H3 cell (jittered around its centre)."""
    lat, lon = h3.cell_to_latlng(cell)
    return pl.DataFrame(
        {
            "latitude": lat + rng.uniform(-0.0008, 0.0008, n),
            "longitude": lon + rng.uniform(-0.0008, 0.0008, n),
        }
    )


@pytest.fixture(scope="module")
def planted():
    """Uniform background points plus a dense cluster in one cell and its ring."""
    rng = np.random.default_rng(7)
    core = h3.latlng_to_cell(*CENTRE, 8)
    ring = sorted(h3.grid_disk(core, 1))
    parts = [_points(rng, 1500)] + [_cluster(rng, 300, c) for c in ring]
    return pl.concat(parts), set(ring)


# ------------------------------------------------------------------------------ Gi* itself
def test_gi_star_equals_a_direct_esda_call(planted):
    from esda.getisord import G_Local
    from libpysal.weights import W

    pts, _ = planted
    hs = Hotspots.from_frame(pts, resolution=8, permutations=499, seed=3)
    t = hs.table.sort("h3_cell")
    cells = t["h3_cell"].to_list()
    inside = set(cells)
    # weights written here independently: every ring-1 neighbour inside the study area
    nb = {c: [x for x in h3.grid_ring(c, 1) if x in inside] for c in cells}
    w = W(nb, id_order=cells, silence_warnings=True)
    g = G_Local(
        t["n"].to_numpy().astype(float),
        w,
        transform="B",
        star=True,
        permutations=499,
        seed=3,
        n_jobs=1,
    )
    # esda's p_sim is float32 (k + 1) / 500; the library restores the exact ratio
    p = np.minimum(1, 2 * g.p_sim.astype(np.float64))
    np.testing.assert_allclose(t["z"].to_numpy(), g.Zs, rtol=1e-12)
    np.testing.assert_allclose(t["p"].to_numpy(), p, rtol=1e-6)
    k = np.minimum(t["p"].to_numpy(), 0.999) * 500 / 2  # p = 2 (k + 1) / 500 exactly (k whole)
    assert np.allclose(k[t["p"].to_numpy() < 1], np.round(k[t["p"].to_numpy() < 1]), atol=1e-9)
    np.testing.assert_allclose(t["p_fdr"].to_numpy(), false_discovery_control(p), rtol=1e-6)


def test_planted_cluster_is_hot_and_shuffled_data_is_not(planted):
    pts, ring = planted
    hs = Hotspots.from_frame(pts, resolution=8, permutations=999, seed=0)
    hot = set(hs.hot_cells)
    core = h3.latlng_to_cell(*CENTRE, 8)
    # conditional permutation holds a cell's own value fixed and draws its neighbours from
    # the rest, which holds the other planted cells: edge cells of a cluster get larger p
    assert core in hot and len(hot & ring) >= 4
    assert all(h3.grid_distance(core, c) <= 2 for c in hot), "no hot cell away from the cluster"
    z = dict(zip(hs.table["h3_cell"], hs.table["z"], strict=True))
    assert all(z[c] > 3 for c in ring)
    # the same number of points with no structure: (nearly) nothing survives FDR
    rng = np.random.default_rng(11)
    flat = _points(rng, pts.height)
    hs0 = Hotspots.from_frame(flat, resolution=8, permutations=999, seed=0)
    assert hs0.counts["n_hot"] <= 1 and hs0.counts["n_cells"] > 50


def test_zero_cells_are_in_the_study_area_and_counted():
    rng = np.random.default_rng(1)
    pts = pl.concat(
        [_points(rng, 40, spread=0.05), _cluster(rng, 30, h3.latlng_to_cell(*CENTRE, 8))]
    )
    hs = Hotspots.from_frame(pts, resolution=8, permutations=99)
    t = hs.table
    assert (t["n"] == 0).sum() > 0 and t["n"].sum() == pts.height
    assert set(t["class"]) <= {"hot", "cold", "not significant"}
    cells = study_cells(pts["latitude"].to_numpy(), pts["longitude"].to_numpy(), 8)
    assert sorted(t["h3_cell"]) == cells
    # every point's cell is in the area, and the centres are the cells' centres
    lat, lon = h3.cell_to_latlng(t["h3_cell"][0])
    assert math.isclose(t["latitude"][0], lat) and math.isclose(t["longitude"][0], lon)


def test_seed_repeats_and_no_fdr_keeps_raw_p(planted):
    pts, _ = planted
    a = Hotspots.from_frame(pts, permutations=199, seed=5).table
    b = Hotspots.from_frame(pts, permutations=199, seed=5).table
    assert a.equals(b)
    raw = Hotspots.from_frame(pts, permutations=199, seed=5, fdr=False).table
    assert raw["p"].to_list() == raw["p_fdr"].to_list()
    assert (
        raw["class"].value_counts().sort("class").equals(raw["class"].value_counts().sort("class"))
    )
    assert (raw["class"] == "hot").sum() >= (a["class"] == "hot").sum()


def test_normal_approximation_without_permutations(planted):
    pts, _ = planted
    t = Hotspots.from_frame(pts, permutations=0).table
    from scipy.stats import norm

    np.testing.assert_allclose(t["p"].to_numpy(), np.minimum(1, 2 * norm.sf(np.abs(t["z"]))))


def test_late_rate_tests_only_cells_with_enough_calls():
    rng = np.random.default_rng(3)
    core = h3.latlng_to_cell(*CENTRE, 8)
    ring = sorted(h3.grid_disk(core, 1))
    base = _points(rng, 2000, spread=0.04).with_columns(
        pl.Series("value_s", rng.uniform(60, 300, 2000))
    )
    slow = pl.concat([_cluster(rng, 40, c) for c in ring]).with_columns(
        pl.lit(900.0).alias("value_s")
    )
    lonely = _cluster(rng, 2, h3.latlng_to_cell(CENTRE[0] + 0.2, CENTRE[1], 8)).with_columns(
        pl.lit(100.0).alias("value_s")
    )
    hs = Hotspots.from_frame(
        pl.concat([base, slow, lonely]), metric="late_rate", target_s=240, min_n=5, seed=0
    )
    t = hs.table
    few = t.filter(pl.col("class") == "too few")
    assert few.height > 0 and (few["n"] < 5).all() and few["z"].null_count() == few.height
    assert (t.filter(pl.col("class") != "too few")["n"] >= 5).all()
    row = t.filter(pl.col("h3_cell") == core).row(0, named=True)
    assert row["class"] == "hot" and row["late_rate"] > 0.6
    # the rate is n_late / n, late = over the target
    assert (t["late_rate"] - t["n_late"] / t["n"]).abs().max() < 1e-12


def test_gi_star_degenerate_inputs():
    g = gi_star(np.zeros(5), [f"c{i}" for i in range(5)])  # a period without calls
    assert g.z.tolist() == [0.0] * 5 and g.p.tolist() == [1.0] * 5
    assert gi_star(np.array([]), []).z.size == 0
    assert fdr_bh(np.array([])).size == 0
    with pytest.raises(AnalysisError, match="`k` .* at least 1"):
        h3_weights(["8828308287fffff"], k=0)


def test_to_geodataframe(planted):
    pts, _ = planted
    hs = Hotspots.from_frame(pts, permutations=19)
    gdf = hs.to_geodataframe()
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == hs.table.height
    import shapely

    c = shapely.points(gdf["longitude"], gdf["latitude"])
    assert shapely.contains(gdf.geometry.values, c).all()
    md = hs.metadata
    assert md["fdr"] == "Benjamini-Hochberg" and md["seed"] == 0 and "grid ring" in md["weights"]


def test_from_frame_errors():
    with pytest.raises(
        AnalysisError, match=r"(?s)`metric` 'count' must be one of volume.*`resolution`"
    ):
        Hotspots.from_frame(
            pl.DataFrame({"latitude": [1.0], "longitude": [2.0]}), metric="count", resolution=16
        )
    with pytest.raises(AnalysisError, match="`target_s` is required for metric late_rate"):
        Hotspots.from_frame(
            pl.DataFrame({"latitude": [1.0], "longitude": [2.0], "value_s": [1.0]}),
            metric="late_rate",
        )
    with pytest.raises(AnalysisError, match="lacks column"):
        Hotspots.from_frame(pl.DataFrame({"lat": [1.0]}))
    with pytest.raises(AnalysisError, match=r"(?s)`alpha` must be .*\(0, 1\).*`permutations`"):
        Hotspots.from_frame(
            pl.DataFrame({"latitude": [1.0], "longitude": [2.0]}), alpha=2, permutations=-1
        )


# ------------------------------------------------------------------------------ emerging
def test_mann_kendall_equals_its_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        z = rng.normal(size=12).round(1)
        tau, p = mann_kendall(z)
        s = sum(np.sign(z[j] - z[i]) for i in range(12) for j in range(i + 1, 12))
        assert np.sign(s) == np.sign(tau) or s == 0
        assert 0 <= p <= 1
    assert mann_kendall(np.arange(3.0)) == (0.0, 1.0)  # too short
    tau, p = mann_kendall(np.arange(10.0))
    assert math.isclose(tau, 1.0) and p < 0.001


@pytest.mark.parametrize(
    "classes, tau, p, expected",
    [
        (["not significant"] * 9 + ["hot"], 0.5, 0.01, "new"),
        (["hot"] * 10, 0.6, 0.01, "intensifying"),
        (["hot"] * 10, 0.0, 0.9, "persistent"),
        (["hot"] * 10, -0.6, 0.01, "diminishing"),
        (["hot", "not significant", "hot", "not significant", "hot"], 0, 1, "sporadic"),
        (["hot", "cold", "hot", "not significant", "hot"], 0, 1, "no pattern"),
        (["hot"] * 9 + ["not significant"], 0, 1, "historical"),
        (["not significant"] * 10, 0, 1, "no pattern"),
        (["hot", "not significant", "not significant"], 0, 1, "no pattern"),
    ],
)
def test_pattern_rules(classes, tau, p, expected):
    assert pattern_of(classes, tau, p, 0.05) == expected


def test_emerging_from_frame_new_and_persistent():
    rng = np.random.default_rng(5)
    core = h3.latlng_to_cell(*CENTRE, 8)
    far = h3.latlng_to_cell(CENTRE[0] + 0.025, CENTRE[1] - 0.025, 8)
    months = [f"2024-{m:02d}-15" for m in range(1, 7)]
    parts = []
    for i, m in enumerate(months):
        d = pl.lit(m).str.to_date()
        parts.append(_points(rng, 300).with_columns(d.alias("local_date")))
        parts.append(
            pl.concat([_cluster(rng, 100, c) for c in h3.grid_disk(far, 1)]).with_columns(
                d.alias("local_date")
            )
        )
        if i == len(months) - 1:
            parts.append(
                pl.concat([_cluster(rng, 80, c) for c in h3.grid_disk(core, 1)]).with_columns(
                    d.alias("local_date")
                )
            )
    em = EmergingHotspots.from_frame(pl.concat(parts), by="month", permutations=9999, seed=0)
    t = em.table
    assert em.counts["n_periods"] == 6 and set(t["pattern"]) <= set(PATTERNS)
    assert t.filter(pl.col("h3_cell") == core)["pattern"][0] == "new"
    assert t.filter(pl.col("h3_cell") == far)["pattern"][0] == "persistent"
    per = em.periods
    assert per.height == t.height * 6 and per["n"].sum() == sum(p.height for p in parts)
    with pytest.raises(AnalysisError, match="`by` 'year' must be one of day, week, month"):
        EmergingHotspots.from_frame(pl.concat(parts), by="year")


# ------------------------------------------------------------------------------ the store
@pytest.fixture(scope="module")
def sf(sf_week_store, tmp_path_factory):
    """The SF week with the neighborhoods layer: a copy of the session's (conftest.py)."""
    return copy_store(sf_week_store, tmp_path_factory.mktemp("hot") / "store")


@pytest.mark.slow  # Gi* on the SF week; fast: test_gi_star_equals_a_direct_esda_call, test_cli_hotspots
def test_sf_week_hotspots(sf):
    con = Store(sf).connect()
    hs = Hotspots.from_store(con, study_area="neighborhoods", seed=0)
    inc = con.execute("select latitude, longitude from incidents").pl()
    t = hs.table
    assert hs.counts["n_outside"] == 4 and t["n"].sum() == inc.height - 4
    # the counts per cell are those of the incidents' own cells
    from dispatch_analytics.spatial.h3cells import _h3_cells

    own = _h3_cells(inc["latitude"].to_numpy(), inc["longitude"].to_numpy(), 8).value_counts()
    top = t.sort("n", descending=True).row(0, named=True)
    assert top["n"] == own.sort("count", descending=True)["count"][0]
    assert top["class"] == "hot" and hs.counts["n_hot"] >= 3
    late = Hotspots.from_store(con, metric="late_rate", interval="travel", seed=0)
    assert late.target_s == 240 and late.counts["n_too_few"] > 0
    em = EmergingHotspots.from_store(con, by="day", study_area="neighborhoods")
    assert em.counts["n_periods"] == 8 and em.counts["n_persistent"] >= 1
    con.close()


def test_from_store_errors(sf):
    con = Store(sf).connect()
    with pytest.raises(AnalysisError) as e:
        Hotspots.from_store(
            con,
            metric="late_rate",
            interval="walk",
            study_area="nope",
            start="2017-13-01",
            agency="x",
        )
    msg = str(e.value)
    for needle in (
        "`interval` 'walk'",
        "`study_area` 'nope' is not a loaded zone layer",
        "`start` '2017-13-01' is not a date",
        "`agency` 'x'",
    ):
        assert needle in msg
    with pytest.raises(AnalysisError, match="sets turnout targets per call category"):
        Hotspots.from_store(con, metric="late_rate", interval="turnout")
    with pytest.raises(AnalysisError, match="`end` 2017-01-01 is before `start` 2017-01-05"):
        Hotspots.from_store(con, start="2017-01-05", end="2017-01-01")
    con.close()


def test_cli_hotspots(sf, capsys):
    from dispatch_analytics.cli import main

    code = main(["hotspots", "--data-dir", str(sf), "--study-area", "neighborhoods", "-f", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["metadata"]["seed"] == 0
    assert {"h3_cell", "n", "z", "p", "p_fdr", "class", "latitude", "longitude"} <= set(
        doc["cells"][0]
    )
    code = main(["hotspots", "--data-dir", str(sf), "--permutations", "99", "--no-fdr"])
    text = capsys.readouterr().out
    assert code == 0 and "hot" in text and "no FDR correction" in text
    code = main(
        ["hotspots", "--data-dir", str(sf), "--by", "day", "--permutations", "9", "-f", "csv"]
    )
    assert code == 0 and capsys.readouterr().out.startswith("h3_cell,latitude,longitude,n,")
    code = main(["hotspots", "--data-dir", str(sf), "--metric", "count"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "`metric` 'count' must be one of volume, late_rate" in err
    code = main(["hotspots", "--data-dir", str(sf), "--by", "day", "--metric", "late_rate"])
    assert code == 2 and "works on `--metric volume` only" in capsys.readouterr().err
    code = main(["hotspots", "--data-dir", str(sf), "-f", "xml"])
    assert code == 2 and "must be table, csv, json" in capsys.readouterr().err


def test_a_hull_over_two_cities_is_refused():
    pts = pl.DataFrame(
        {"latitude": [30.2, 30.3, 37.7, 37.8], "longitude": [-97.7, -97.6, -122.5, -122.4]}
    )
    with pytest.raises(
        AnalysisError,
        match=r"would hold about .* H3 cells at resolution 8, more than 20,000: give `study_area`",
    ):
        Hotspots.from_frame(pts)
    assert Hotspots.from_frame(pts, resolution=3, permutations=9).counts["n_cells"] > 4


@pytest.mark.slow  # exports and a map; fast: test_to_geodataframe
def test_export_and_map_hotspots_kind(sf, tmp_path, capsys):
    import geopandas as gpd

    from dispatch_analytics.cli import main

    out = tmp_path / "hs.gpkg"
    code = main(
        [
            "export",
            "hotspots",
            "--layer",
            "neighborhoods",
            "-p",
            "seed=0",
            "--out",
            str(out),
            "--data-dir",
            str(sf),
        ]
    )
    assert code == 0, capsys.readouterr().err
    gdf = gpd.read_file(out)
    lib = Hotspots.from_store(Store(sf).connect(), study_area="neighborhoods", seed=0).table
    assert len(gdf) == lib.height and gdf.crs.to_epsg() == 4326
    assert sorted(gdf.loc[gdf["class"] == "hot", "h3_cell"]) == sorted(
        lib.filter(pl.col("class") == "hot")["h3_cell"]
    )
    png = tmp_path / "em.png"
    code = main(
        [
            "map",
            "hotspots",
            "-p",
            "by=day",
            "-p",
            "permutations=99",
            "--by",
            "pattern",
            "--out",
            str(png),
            "--data-dir",
            str(sf),
        ]
    )
    assert code == 0 and png.stat().st_size > 10_000
    code = main(["export", "hotspots", "-p", "rings=x", "--out", str(out), "--data-dir", str(sf)])
    assert code == 1 and "is not a number" in " ".join(capsys.readouterr().err.split())
    code = main(
        ["export", "hotspots", "-p", "colour=red", "--out", str(out), "--data-dir", str(sf)]
    )
    assert code == 1 and "unknown `--param` colour" in " ".join(capsys.readouterr().err.split())
