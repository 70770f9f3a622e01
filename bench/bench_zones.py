"""Zone-assignment benchmark: prints a table of timings and memory; nothing is asserted.

Against the 41 SF analysis neighbourhoods (41 MultiPolygons, ~42k vertices) it measures:
- ``assign_points`` (zone ids) and ``assign_point_index`` (positions) of N uniform random
  points (default 10,000,000) over the city's bounding box plus a margin (about half of
  them fall in a zone);
- H3 cells (resolution 8) of M distinct points (default 1,000,000), as
  ``assign_incidents`` computes them;
- ``assign_incidents`` end to end for M synthetic incidents (read from a DuckDB view, one
  layer, H3, both Parquet files written atomically).
Each step runs in its own process; "peak RSS" is that process's VmHWM, "inputs" its RSS
once the random coordinates exist (before the step).

Usage: .venv/bin/python bench/bench_zones.py [--points N] [--incidents M]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NHOODS = (
    Path(__file__).resolve().parents[1]
    / "sample_data"
    / "sf_week"
    / "sf_analysis_neighborhoods.geojson"
)
STEPS = ("assign_points", "assign_point_index", "h3", "assign_incidents")


def rss_mb(field: str = "VmHWM") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def run_step(step: str, n: int, seed: int) -> dict:
    import duckdb
    import geopandas as gpd
    import polars as pl

    from dispatch_analytics.spatial import zones as Z
    from dispatch_analytics.spatial.h3cells import _h3_cells

    zones = gpd.read_file(NHOODS).rename(columns={"nhood": "zone_id"})
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = zones.total_bounds
    x = rng.uniform(x0 - 0.01, x1 + 0.01, n)
    y = rng.uniform(y0 - 0.01, y1 + 0.01, n)
    before = rss_mb("VmRSS")
    t = time.perf_counter()
    if step == "assign_points":
        ids = Z.assign_points(x, y, zones)
        dt = time.perf_counter() - t
        note = f"{np.mean(ids != None):.0%} in a zone"  # noqa: E711
    elif step == "assign_point_index":
        idx = Z.assign_point_index(x, y, zones.geometry.values)
        dt = time.perf_counter() - t
        note = f"{np.mean(idx >= 0):.0%} in a zone"
    elif step == "h3":
        cells = _h3_cells(y, x, 8)
        dt = time.perf_counter() - t
        note = f"{cells.n_unique():,} distinct cells"
    else:
        with tempfile.TemporaryDirectory() as root:
            Z.load_zones(root, NHOODS, "neighborhoods", id_field="nhood")
            con = duckdb.connect()
            inc = pl.DataFrame(
                {
                    # incidents are keyed by (agency, incident_id) since the agency work
                    "agency": pl.repeat("SFFD", n, eager=True),
                    "incident_id": pl.int_range(n, eager=True).cast(pl.String),
                    "latitude": y,
                    "longitude": x,
                }
            )
            con.register("incidents_df", inc.to_arrow())
            con.execute("create view incidents as select * from incidents_df")
            before = rss_mb("VmRSS")
            t = time.perf_counter()
            c = Z.assign_incidents(root, con)["neighborhoods"]
            dt = time.perf_counter() - t
        note = f"{c['assigned']:,} assigned, {c['outside']:,} outside"
    return {"seconds": dt, "inputs_mb": before, "peak_mb": rss_mb(), "note": note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        n = args.points if args.step.startswith("assign_point") else args.incidents
        print(json.dumps(run_step(args.step, n, args.seed)))
        return
    rows = []
    for step in STEPS:
        n = args.points if step.startswith("assign_point") else args.incidents
        res = subprocess.run(
            [
                sys.executable,
                __file__,
                "--step",
                step,
                "--points",
                str(args.points),
                "--incidents",
                str(args.incidents),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append((f"{step}, {n:,} points", r))
    w = max(len(name) for name, _ in rows)
    print(
        f"{'step':<{w}}  {'seconds':>7}  {'points/s':>11}  {'inputs MB':>9}  "
        f"{'peak RSS MB':>11}  notes"
    )
    for name, r in rows:
        n = int(name.split(", ")[1].split()[0].replace(",", ""))
        print(
            f"{name:<{w}}  {r['seconds']:7.2f}  {n / r['seconds']:11,.0f}  "
            f"{r['inputs_mb']:9,.0f}  {r['peak_mb']:11,.0f}  {r['note']}"
        )


if __name__ == "__main__":
    main()
