"""Coverage / what-if benchmark: prints a table of timings; nothing is asserted.

A synthetic service area of 1,000 km² (a 31.6 km square at 40 N) at H3 resolution 9
(about 9,500 cells), 50 stations and 100,000 incidents placed at random, and a travel model
fitted on synthetic calls. It measures:

- the grid (cells of the area and the demand in each; built once per area and resolution);
- one what-if (add a station, move one, close one: the after-coverage, the delta and the
  changed cells) given the before-coverage, which is what the dashboard does on a click;
- the same what-if from scratch (grid + before + after);
- MCLP siting of 3 new sites (spopt + CBC);
- the baseline: a bare numpy nearest-station haversine distance over the same cells.
Goal: one what-if on this area under 2 s.

Usage: .venv/bin/python bench/bench_coverage.py [--stations N] [--incidents M] [--repeat R]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import polars as pl
import shapely


def _setup(n_st: int, n_inc: int, seed: int):
    from dispatch_analytics.analysis.travel_model import TravelModel

    rng = np.random.default_rng(seed)
    lat0, lon0 = 40.0, -100.0
    side_km = math.sqrt(1000.0)
    dlat, dlon = side_km / 111.2, side_km / (111.2 * math.cos(math.radians(lat0)))
    area = shapely.box(lon0, lat0, lon0 + dlon, lat0 + dlat)
    st = pl.DataFrame(
        {
            "station_id": [f"S{i:02d}" for i in range(n_st)],
            "name": [f"Station {i}" for i in range(n_st)],
            "latitude": lat0 + rng.uniform(0.02, 0.98, n_st) * dlat,
            "longitude": lon0 + rng.uniform(0.02, 0.98, n_st) * dlon,
        }
    )
    inc_lat = lat0 + rng.uniform(0, 1, n_inc) * dlat
    inc_lon = lon0 + rng.uniform(0, 1, n_inc) * dlon
    d = rng.uniform(200, 8000, 3000)
    obs = pl.DataFrame(
        {
            "travel_s": (40 + d * 1.3 / 12) * np.exp(rng.normal(0, 0.15, 3000)),
            "distance_m": d,
            "local_hour": rng.integers(0, 24, 3000),
        }
    )
    model = TravelModel.from_frame(obs, seed=seed)
    centre = (lon0 + dlon / 2, lat0 + dlat / 2)
    return area, st, inc_lat, inc_lon, model, centre


def _best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=50)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    from dispatch_analytics.analysis.coverage import Coverage, CoverageGrid
    from dispatch_analytics.analysis.siting import Siting
    from dispatch_analytics.analysis.whatif import WhatIf
    from dispatch_analytics.spatial.distance import haversine_m

    area, st, ilat, ilon, model, (cx, cy) = _setup(a.stations, a.incidents, a.seed)
    t_grid, grid = _best(lambda: CoverageGrid.from_points(area, ilat, ilon, 9), 1)
    before = Coverage.evaluate(grid, st, model, 240)
    changes = dict(add=[(cx, cy)], move={"S01": (cx + 0.05, cy)}, close=["S02"])

    t_whatif, wi = _best(lambda: WhatIf.from_coverage(before, **changes), a.repeat)

    def scratch():
        g = CoverageGrid.from_points(area, ilat, ilon, 9)
        return WhatIf.from_coverage(Coverage.evaluate(g, st, model, 240), **changes)

    t_scratch, _ = _best(scratch, 1)
    lat = grid.cells["latitude"].to_numpy()
    lon = grid.cells["longitude"].to_numpy()
    slat, slon = st["latitude"].to_numpy(), st["longitude"].to_numpy()
    t_base, _ = _best(
        lambda: haversine_m(lat[:, None], lon[:, None], slat[None, :], slon[None, :]).min(axis=1),
        a.repeat,
    )
    t_site, site = _best(lambda: Siting.from_coverage(before, 3, time_limit_s=120), 1)

    rows = [
        ("grid: cells + demand (once per area)", t_grid, f"{grid.cells.height:,} cells"),
        (
            "what-if given the before-coverage",
            t_whatif,
            f"covered {before.summary['covered_share']:.1%} -> {wi.after.summary['covered_share']:.1%}, "
            f"{wi.changed_cells.height:,} cells changed",
        ),
        ("what-if from scratch (grid + before + after)", t_scratch, ""),
        (
            "MCLP siting, 3 new sites (spopt + CBC)",
            t_site,
            f"{site.n_candidates:,} candidates, +{int(site.sites['added_demand'].sum()):,} demand, "
            f"optimal {site.proven_optimal}",
        ),
        ("baseline: bare numpy nearest-station distance", t_base, "same cells x stations"),
    ]
    print(
        f"\nCoverage benchmark: 1,000 km², H3 res 9, {a.stations} stations, "
        f"{a.incidents:,} incidents (median of {a.repeat} runs where repeated)\n"
    )
    print(f"{'step':<48} {'seconds':>9} {'x baseline':>11}  note")
    for name, t, note in rows:
        print(f"{name:<48} {t:>9.3f} {t / t_base:>11.1f}  {note}")
    print(
        f"\ngoal: one what-if under 2 s -> {t_whatif:.3f} s given the before-coverage, "
        f"{t_scratch:.2f} s from scratch"
    )


if __name__ == "__main__":
    main()
