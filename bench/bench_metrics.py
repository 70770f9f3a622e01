"""Metrics benchmark: zone assignment, fractiles by zone and month, end to end vs pandas.

Prints a table; nothing is asserted. Every measurement runs in its own process (this script
re-run with ``--step``), so "peak RSS" is that process's VmHWM alone and one step's caches
never help another. "inputs MB" is the process's RSS once its inputs exist, before the
timed work.

(a) zone assignment of N synthetic incident points (default 10,000,000; uniform over the SF
    bounding box of ``bench/synth.py``) against the 41 SF analysis neighbourhoods with
    ``zones.assign_point_index`` and ``zones.assign_points``. Goal < 5 s.
(b) at M incidents (default 10,000,000): a store written by ``synth.make_store`` (cached in
    ``bench/_work/metrics_store_M``; its neighbourhood layer too, loaded once with
    ``load_zones``), then p90 by zone x month four ways, each in its own process, best of
    ``--repeat``: BARE = a bare DuckDB ``quantile_disc`` group-by over the same Parquet (the
    derived incidents file and the layer's assignment file, joined on (agency, incident_id));
    ``run_query(con, 'fractile_compliance', {metric: total_response, layer: neighborhoods,
    period: month, target_s: 480})`` and ``Fractiles.from_store`` by ``layer:neighborhoods``
    and month on a read-only catalog connection; and the ``dispatch query`` command as a whole
    process (start-up included) against a bare ``python -c 'import duckdb; ...'`` process.
    Goal ``query_vs_duckdb``: ours / BARE <= 1.5x. The n and p90 of every group are compared
    between BARE and ours. A profile step times the pieces (the catalog views, the zone join,
    the macro over materialised rows, the CI ranks).
(c) end to end at K incidents (default 1,000,000) from a CSV (``synth.make_csv``, cached):
    OURS = ``ingest`` into a fresh store + ``load_zones`` + the fractile_compliance query;
    PANDAS = what an analyst writes by hand for the same job, minimally: ``pd.read_csv`` of the
    columns it needs, ``to_datetime`` / ``tz_localize``, ``gpd.sjoin`` of the points to the
    zone layer, a groupby zone and local month with nearest-rank fractiles
    (``np.percentile(method='inverted_cdf')``) and compliance (no CI, no exclusion reasons);
    plus a bare ``polars.read_csv`` of the file for scale. The two results are compared group
    by group (n, p90, compliance). Goal ``whole_job_vs_pandas``: PANDAS / OURS >= 5x.

Every goal is written to ``bench/_work/goals/<key>.json`` (``bench/goals.py``); ``python
bench/goals.py`` prints them all.

Usage: .venv/bin/python bench/bench_metrics.py [--points N] [--incidents M] [--e2e-incidents K]
Quick: .venv/bin/python bench/bench_metrics.py --points 1000000 --incidents 1000000 --e2e-incidents 200000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import goals  # noqa: E402  (bench/goals.py: the goal files)
from metrics_steps import (  # noqa: E402  (the measured steps, each run in a child process)
    QUERY_PARAMS,
    STEPS,
    WORK,
    layer_loaded,
)


# ============================================================================ parent
def child(step: str, **kw) -> dict:
    args = [sys.executable, __file__, "--step", step]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    t = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(f"step {step} failed (exit {res.returncode})")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_s"] = wall  # interpreter start and imports included
    return out


def compare(ours_path: Path, pandas_path: Path) -> str:
    """Groups matched and identical n / p90 / compliance between the two results."""
    import polars as pl

    a = pl.read_parquet(ours_path).select(
        "zone_id", pl.col("period_start").cast(pl.Date).alias("month"), "n", "p90_s", "compliance"
    )
    b = pl.read_parquet(pandas_path).select(
        pl.col("zone_id").cast(pl.String), pl.col("month").cast(pl.Date), "n", "p90_s", "compliance"
    )
    j = a.join(
        b, on=["zone_id", "month"], how="full", nulls_equal=True, coalesce=True, suffix="_pd"
    )
    both = j.drop_nulls(["n", "n_pd"])
    same_n = int((both["n"] == both["n_pd"]).sum())
    same_p90 = int((both["p90_s"] == both["p90_s_pd"]).sum())
    dc = (both["compliance"] - both["compliance_pd"]).abs().max()
    return (
        f"{both.height} of {a.height} / {b.height} groups matched; identical n in "
        f"{same_n}, identical p90 in {same_p90}; max |compliance diff| {dc or 0:.2g}"
    )


# Long: one labelled row per measurement, in the order the table prints them
def section_b(args, row, section) -> None:
    """(b) p90 by zone x month at M incidents: ours vs a bare DuckDB group-by (goal
    ``query_vs_duckdb``)."""
    m = args.incidents
    section(f"(b) p90 by zone x month, {m:,} incidents (goal: ours <= 1.5x a bare DuckDB group-by)")
    root = WORK / f"metrics_store_{m}"
    meta = WORK / f"metrics_store_{m}.json"
    if root.exists() and meta.exists():
        built = json.loads(meta.read_text())
        row(
            "store build (synth.make_store)",
            f"cached in {root.relative_to(HERE.parent)} (built in {built['seconds']:.1f} s, "
            f"peak RSS {built['peak_mb']:,.0f} MB)",
        )
    else:
        shutil.rmtree(root, ignore_errors=True)
        meta.unlink(missing_ok=True)
        built = child("build_store", root=root, incidents=m, seed=args.seed)
        meta.write_text(json.dumps(built))
        row(
            "store build (synth.make_store)",
            f"{built['seconds']:.1f} s, peak RSS {built['peak_mb']:,.0f} MB",
        )
    if layer_loaded(root):
        row("load_zones (41 zones)", "cached (the layer was loaded into the cached store)")
    else:
        r = child("load_zones", root=root)
        row(
            "load_zones (41 zones, assigns every incident)",
            f"{r['seconds']:.1f} s, peak RSS {r['peak_mb']:,.0f} MB; {r['assigned']:,} in a "
            f"zone, {r['outside']:,} outside, {r['unlocated']:,} unlocated",
        )
    bare_out, ours_out = WORK / "b_bare.parquet", WORK / "b_ours.parquet"
    bare = child("bare_duckdb", root=root, repeat=args.repeat, out=bare_out)
    row(
        "BARE DuckDB quantile_disc group-by over the Parquet",
        f"first {bare['first_s']:.2f} s, best of {args.repeat} {bare['best_s']:.2f} s",
    )
    q = child("query", root=root, repeat=args.repeat, out=ours_out)
    row(
        "run_query fractile_compliance (catalog)",
        f"first {q['query_first_s']:.2f} s, best of {args.repeat} {q['query_best_s']:.2f} s; "
        f"{q['groups']:,} groups, n = {q['n_total']:,}",
    )
    row(
        "Fractiles.from_store (catalog)",
        f"first {q['fractiles_first_s']:.2f} s, best of {args.repeat} "
        f"{q['fractiles_best_s']:.2f} s; {q['fractiles_groups']:,} groups; peak RSS "
        f"{q['peak_mb']:,.0f} MB",
    )
    cli, bare_proc = cli_vs_bare_process(root, args.repeat)
    row(
        "dispatch query fractile_compliance (whole process)",
        f"best of {args.repeat} {cli:.2f} s vs a bare python+duckdb process {bare_proc:.2f} s "
        f"({cli / bare_proc:.2f}x)",
    )
    agree = compare_b(ours_out, bare_out)
    row("results agree (BARE vs ours)", agree)
    prof = child("profile", root=root, repeat=args.repeat)
    where = (
        f"incidents view {prof['incidents_view_s']:.2f} s (derived file alone "
        f"{prof['derived_file_s']:.2f}, _fresh_incidents {prof['fresh_incidents_s']:.2f}), "
        f"incident_zones {prof['incident_zones_s']:.2f}, rows with zone and month "
        f"{prof['rows_s']:.2f}, whole query {prof['query_s']:.2f}; over materialised rows: "
        f"da_fractiles {prof['macro_s']:.2f} (sorted lists {prof['sorted_lists_s']:.2f}, "
        f"quantile_disc {prof['quantile_disc_s']:.2f}, CI ranks {prof['ci_ranks_s']:.2f})"
    )
    row("where the time goes", where)
    ours = max(q["query_best_s"], q["fractiles_best_s"])
    ratio = ours / bare["best_s"]
    goals.write_goal(
        "query_vs_duckdb",
        work=f"p90 by zone x month at {m:,} incidents: ours (run_query / Fractiles.from_store) "
        "vs a bare DuckDB quantile_disc group-by over the same Parquet",
        measured=f"ours {ours:.2f} s (run_query {q['query_best_s']:.2f}, Fractiles "
        f"{q['fractiles_best_s']:.2f}) vs bare {bare['best_s']:.2f} s; dispatch query process "
        f"{cli:.2f} s vs bare process {bare_proc:.2f} s ({cli / bare_proc:.2f}x); {agree}",
        ratio=ratio,
        goal="<= 1.5x",
        detail=where,
    )
    row("goal query_vs_duckdb (<= 1.5x)", f"{ratio:.2f}x ({'met' if ratio <= 1.5 else 'NOT met'})")


BARE_PROCESS = """
import sys, duckdb
sys.path.insert(0, {here!r})
from metrics_steps import bare_sql
duckdb.connect().execute(bare_sql({root!r})).fetchall()
"""


def cli_vs_bare_process(root: Path, repeat: int) -> tuple[float, float]:
    """Best wall seconds of a whole ``dispatch query`` process and of a bare DuckDB one."""
    out = WORK / "b_cli.csv"
    cli = [str(Path(sys.executable).with_name("dispatch")), "query", "fractile_compliance"]
    for k, v in QUERY_PARAMS.items():
        cli += ["-p", f"{k}={v}"]
    cli += ["--format", "csv", "--out", str(out), "--data-dir", str(root)]
    bare = [sys.executable, "-c", BARE_PROCESS.format(here=str(HERE), root=str(root))]

    def wall(args: list[str]) -> float:
        t = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        return time.perf_counter() - t

    return min(wall(cli) for _ in range(repeat)), min(wall(bare) for _ in range(repeat))


def compare_b(ours_path: Path, bare_path: Path) -> str:
    """Groups matched and identical n / p90 between ours and the bare group-by."""
    import polars as pl

    a = pl.read_parquet(ours_path).select(
        "zone_id", pl.col("period_start").alias("month"), "n", "p90_s"
    )
    b = pl.read_parquet(bare_path).select("zone_id", "month", "n", "p90_s")
    j = a.join(b, on=["zone_id", "month"], how="full", nulls_equal=True, coalesce=True, suffix="_b")
    both = j.drop_nulls(["n", "n_b"])
    return (
        f"{both.height} of {a.height} / {b.height} groups matched; identical n in "
        f"{int((both['n'] == both['n_b']).sum())}, identical p90 in "
        f"{int((both['p90_s'] == both['p90_s_b']).sum())}"
    )


# Long: the three sections (a) (b) (c) in the order they print, each a few child steps and a table row
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000_000, help="(a) points to assign")
    ap.add_argument("--incidents", type=int, default=10_000_000, help="(b) incidents in the store")
    ap.add_argument("--e2e-incidents", type=int, default=1_000_000, help="(c) incidents in the CSV")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per query timing; first and best shown"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: a,b,c")
    ap.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    for hidden in ("--root", "--csv", "--mapping", "--out"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        sys.path.insert(0, str(HERE))
        print(json.dumps(STEPS[args.step](args), default=str))
        return

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    WORK.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    rows: list[tuple[str, str]] = []

    def section(title: str) -> None:
        rows.append((title, ""))

    def row(label: str, value: str) -> None:
        rows.append(("  " + label, value))
        print(f"  {label}: {value}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- (a) points
    if "a" not in skip:
        n = args.points
        section(f"(a) zone assignment, {n:,} points (goal < 5 s)")
        for step, fn in (("points_index", "assign_point_index"), ("points_ids", "assign_points")):
            r = child(step, points=n, seed=args.seed)
            row(
                fn,
                f"{r['seconds']:.2f} s, {n / r['seconds'] / 1e6:.1f} M points/s, inputs "
                f"{r['inputs_mb']:,.0f} MB, peak RSS {r['peak_mb']:,.0f} MB, "
                f"{r['inside']:.0%} in a zone ({r['zones']} zones, {r['vertices']:,} "
                "vertices)",
            )

    # ---------------------------------------------------------------- (b) 10M store
    if "b" not in skip:
        section_b(args, row, section)

    # ---------------------------------------------------------------- (c) end to end
    if "c" not in skip:
        from synth import MAPPING, make_csv

        k = args.e2e_incidents
        csv = WORK / f"e2e_{k}.csv"
        if not csv.exists():
            t = time.perf_counter()
            make_csv(csv, k, seed=args.seed)
            print(f"generated {csv} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        mapping = WORK / "e2e_mapping.toml"
        mapping.write_text(MAPPING)
        size_mb = csv.stat().st_size / 1e6
        section(
            f"(c) end to end, {k:,} incidents from CSV ({size_mb:,.0f} MB), "
            "zone x month fractiles (goal: ours >= 5x faster)"
        )
        bare = child("bare_read", csv=csv)
        row(
            "bare polars.read_csv (for scale)",
            f"{bare['seconds']:.2f} s, peak RSS {bare['peak_mb']:,.0f} MB",
        )
        root = WORK / "e2e_store"
        shutil.rmtree(root, ignore_errors=True)
        ours_out, pd_out = WORK / "e2e_ours.parquet", WORK / "e2e_pandas.parquet"
        o = child("ours", csv=csv, mapping=mapping, root=root, out=ours_out)
        shutil.rmtree(root, ignore_errors=True)
        rej = ", ".join(f"{r} {c:,}" for r, c in o["rejects"].items()) or "none"
        row(
            "OURS ingest + load_zones + fractile_compliance",
            f"{o['seconds']:.2f} s (ingest {o['ingest_s']:.2f}, zones {o['zones_s']:.2f}, "
            f"query {o['query_s']:.2f}; process incl. imports {o['process_s']:.2f} s), peak "
            f"RSS {o['peak_mb']:,.0f} MB",
        )
        row(
            "  rows",
            f"{o['rows']:,} read, {o['accepted']:,} accepted, rejected: {rej}; "
            f"{o['groups']:,} groups",
        )
        p = child("pandas", csv=csv, out=pd_out)
        row(
            "PANDAS read_csv + to_datetime + sjoin + groupby",
            f"{p['seconds']:.2f} s (read {p['read_s']:.2f}, times {p['times_s']:.2f}, "
            f"sjoin {p['sjoin_s']:.2f}, groupby {p['groupby_s']:.2f}; process incl. imports "
            f"{p['process_s']:.2f} s), peak RSS {p['peak_mb']:,.0f} MB; no CI computed",
        )
        ratio = p["seconds"] / o["seconds"]
        row(
            "speed-up PANDAS / OURS",
            f"{ratio:.2f}x ({'goal met' if ratio >= 5 else 'goal of 5x NOT met'}); "
            f"incl. imports {p['process_s'] / o['process_s']:.2f}x",
        )
        agree = compare(ours_out, pd_out)
        row("results agree", agree)
        goals.write_goal(
            "whole_job_vs_pandas",
            work=f"whole job at {k:,} incidents (CSV ingest, zone layer, p90 by zone x month) "
            "vs plain pandas + GeoPandas",
            measured=f"ours {o['seconds']:.2f} s vs pandas {p['seconds']:.2f} s "
            f"(with imports: {o['process_s']:.2f} vs {p['process_s']:.2f} s); {agree}",
            ratio=ratio,
            goal=">= 5x",
            detail=f"ours by phase: ingest {o['ingest_s']:.2f} s, load_zones {o['zones_s']:.2f} "
            f"s, query {o['query_s']:.2f} s; pandas: read {p['read_s']:.2f}, times "
            f"{p['times_s']:.2f}, sjoin {p['sjoin_s']:.2f}, groupby {p['groupby_s']:.2f} s",
        )

    w = max(len(a) for a, b in rows if b)
    line = "-" * min(w + 100, 160)
    print(f"\nMetrics benchmark ({time.perf_counter() - t_all:.0f} s wall in all)")
    print(line)
    for a, b in rows:
        print(f"{a:<{w}}  {b}" if b else a)
    print(line)


if __name__ == "__main__":
    main()
