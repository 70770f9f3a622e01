"""Metrics benchmark: zone assignment, fractiles by zone and month, end to end vs pandas.

Prints a table; nothing is asserted. Every measurement runs in its own process (this script
re-run with ``--step``), so "peak RSS" is that process's VmHWM alone and one step's caches
never help another. "inputs MB" is the process's RSS once its inputs exist, before the
timed work.

(a) zone assignment of N synthetic incident points (default 10,000,000; uniform over the SF
    bounding box of ``bench/synth.py``) against the 41 SF analysis neighbourhoods with
    ``zones.assign_point_index`` and ``zones.assign_points``. Goal < 5 s.
(b) at M incidents (default 10,000,000): a store written by ``synth.make_store`` (cached in
    ``bench/_work/metrics_store_M``), ``load_zones`` of the neighbourhoods (assigns every
    incident), then ``run_query(con, 'fractile_compliance', {metric: total_response, layer:
    neighborhoods, period: month, target_s: 480})`` and ``Fractiles.from_store`` by
    ``layer:neighborhoods`` and month on a read-only catalog connection: the first run in a
    fresh process and the best of ``--repeat``. Goal < 1 s. The ``incidents`` view
    re-aggregates every ``responses`` row on each query, so the same two calls are also
    timed over a materialised incidents table (an in-memory connection from
    ``Store.view_sql()`` whose ``incidents`` view is replaced by a table built once).
(c) end to end at K incidents (default 1,000,000) from a CSV (``synth.make_csv``, cached):
    OURS = ``ingest`` into a fresh store + ``load_zones`` + the fractile_compliance query;
    PANDAS = ``pd.read_csv`` + ``to_datetime`` / ``tz_localize`` + ``gpd.sjoin`` +
    groupby zone and month with nearest-rank (``np.percentile(method='inverted_cdf')``)
    fractiles and compliance; plus a bare ``polars.read_csv`` of the file for scale. The
    two results are compared group by group.

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

from metrics_steps import STEPS  # the measured steps, each run in a child process

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"


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


class _Rows(list):
    """The printed table: (label, value) rows; a section title has no value."""

    def section(self, title: str) -> None:
        self.append((title, ""))

    def row(self, label: str, value: str) -> None:
        self.append(("  " + label, value))
        print(f"  {label}: {value}", file=sys.stderr, flush=True)


def _points(args: argparse.Namespace, rows: _Rows) -> None:
    """(a) zone assignment of ``--points`` points."""
    n = args.points
    rows.section(f"(a) zone assignment, {n:,} points (goal < 5 s)")
    for step, fn in (("points_index", "assign_point_index"), ("points_ids", "assign_points")):
        r = child(step, points=n, seed=args.seed)
        rows.row(
            fn,
            f"{r['seconds']:.2f} s, {n / r['seconds'] / 1e6:.1f} M points/s, inputs "
            f"{r['inputs_mb']:,.0f} MB, peak RSS {r['peak_mb']:,.0f} MB, "
            f"{r['inside']:.0%} in a zone ({r['zones']} zones, {r['vertices']:,} "
            "vertices)",
        )


def _store(args: argparse.Namespace, rows: _Rows) -> None:
    """(b) fractiles by zone and month over a store of ``--incidents`` incidents."""
    m = args.incidents
    rows.section(f"(b) fractiles by zone and month, {m:,} incidents (goal < 1 s)")
    root = WORK / f"metrics_store_{m}"
    meta = WORK / f"metrics_store_{m}.json"
    if root.exists() and meta.exists():
        built = json.loads(meta.read_text())
        rows.row(
            "store build (synth.make_store)",
            f"cached in {root.relative_to(HERE.parent)} (built in {built['seconds']:.1f} s, "
            f"peak RSS {built['peak_mb']:,.0f} MB)",
        )
    else:
        shutil.rmtree(root, ignore_errors=True)
        meta.unlink(missing_ok=True)
        built = child("build_store", root=root, incidents=m, seed=args.seed)
        meta.write_text(json.dumps(built))
        rows.row(
            "store build (synth.make_store)",
            f"{built['seconds']:.1f} s, peak RSS {built['peak_mb']:,.0f} MB",
        )
    r = child("load_zones", root=root)
    rows.row(
        "load_zones (41 zones, assigns every incident)",
        f"{r['seconds']:.1f} s, peak RSS {r['peak_mb']:,.0f} MB; {r['assigned']:,} in a "
        f"zone, {r['outside']:,} outside, {r['unlocated']:,} unlocated",
    )
    q = child("query", root=root, repeat=args.repeat)
    rows.row(
        "run_query fractile_compliance (catalog view)",
        f"first {q['query_first_s']:.2f} s, best of {args.repeat} {q['query_best_s']:.2f} s; "
        f"{q['groups']:,} groups, n = {q['n_total']:,}",
    )
    rows.row(
        "Fractiles.from_store (catalog view)",
        f"first {q['fractiles_first_s']:.2f} s, best of {args.repeat} "
        f"{q['fractiles_best_s']:.2f} s; {q['fractiles_groups']:,} groups; peak RSS "
        f"{q['peak_mb']:,.0f} MB",
    )
    qm = child("query_mat", root=root, repeat=args.repeat)
    rows.row(
        "  materialise incidents (create temp table, once)",
        f"{qm['materialise_s']:.2f} s ({qm['incidents']:,} rows)",
    )
    rows.row(
        "run_query fractile_compliance (MATERIALISED incidents)",
        f"first {qm['query_first_s']:.2f} s, best of {args.repeat} "
        f"{qm['query_best_s']:.2f} s; {qm['groups']:,} groups",
    )
    rows.row(
        "Fractiles.from_store (MATERIALISED incidents)",
        f"first {qm['fractiles_first_s']:.2f} s, best of {args.repeat} "
        f"{qm['fractiles_best_s']:.2f} s; peak RSS {qm['peak_mb']:,.0f} MB",
    )
    goal = (
        f"catalog view {q['query_best_s']:.2f} s "
        f"({'met' if q['query_best_s'] < 1 else 'NOT met'}); materialised incidents "
        f"{qm['query_best_s']:.2f} s ({'met' if qm['query_best_s'] < 1 else 'NOT met'})"
    )
    rows.row(
        "  of which: local month from stored call_received_local_at",
        f"{qm['local_month_stored_s']:.2f} s (a per-row zone lookup instead: "
        f"{qm['local_month_row_tz_s']:.2f} s)",
    )
    rows.row(
        "  of which: da_os_ci_ranks (binomial terms within 12 sd)", f"{qm['ci_ranks_s']:.2f} s"
    )
    rows.row("goal < 1 s", goal)


def _end_to_end(args: argparse.Namespace, rows: _Rows) -> None:
    """(c) end to end from a CSV of ``--e2e-incidents`` incidents, ours vs pandas."""
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
    rows.section(
        f"(c) end to end, {k:,} incidents from CSV ({size_mb:,.0f} MB), "
        "zone x month fractiles (goal: ours >= 5x faster)"
    )
    bare = child("bare_read", csv=csv)
    rows.row(
        "bare polars.read_csv (for scale)",
        f"{bare['seconds']:.2f} s, peak RSS {bare['peak_mb']:,.0f} MB",
    )
    root = WORK / "e2e_store"
    shutil.rmtree(root, ignore_errors=True)
    ours_out, pd_out = WORK / "e2e_ours.parquet", WORK / "e2e_pandas.parquet"
    o = child("ours", csv=csv, mapping=mapping, root=root, out=ours_out)
    shutil.rmtree(root, ignore_errors=True)
    rej = ", ".join(f"{r} {c:,}" for r, c in o["rejects"].items()) or "none"
    rows.row(
        "OURS ingest + load_zones + fractile_compliance",
        f"{o['seconds']:.2f} s (ingest {o['ingest_s']:.2f}, zones {o['zones_s']:.2f}, "
        f"query {o['query_s']:.2f}; process incl. imports {o['process_s']:.2f} s), peak "
        f"RSS {o['peak_mb']:,.0f} MB",
    )
    rows.row(
        "  rows",
        f"{o['rows']:,} read, {o['accepted']:,} accepted, rejected: {rej}; {o['groups']:,} groups",
    )
    p = child("pandas", csv=csv, out=pd_out)
    rows.row(
        "PANDAS read_csv + to_datetime + sjoin + groupby",
        f"{p['seconds']:.2f} s (read {p['read_s']:.2f}, times {p['times_s']:.2f}, "
        f"sjoin {p['sjoin_s']:.2f}, groupby {p['groupby_s']:.2f}; process incl. imports "
        f"{p['process_s']:.2f} s), peak RSS {p['peak_mb']:,.0f} MB; no CI computed",
    )
    ratio = p["seconds"] / o["seconds"]
    rows.row(
        "speed-up PANDAS / OURS",
        f"{ratio:.2f}x ({'goal met' if ratio >= 5 else 'goal of 5x NOT met'}); "
        f"incl. imports {p['process_s'] / o['process_s']:.2f}x",
    )
    rows.row("results agree", compare(ours_out, pd_out))


def _args() -> argparse.Namespace:
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
    return ap.parse_args()


def main() -> None:
    args = _args()
    if args.step:
        sys.path.insert(0, str(HERE))
        print(json.dumps(STEPS[args.step](args), default=str))
        return
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    WORK.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    rows = _Rows()
    for name, fn in (("a", _points), ("b", _store), ("c", _end_to_end)):
        if name not in skip:
            fn(args, rows)
    w = max(len(a) for a, b in rows if b)
    line = "-" * min(w + 100, 160)
    print(f"\nMetrics benchmark ({time.perf_counter() - t_all:.0f} s wall in all)")
    print(line)
    for a, b in rows:
        print(f"{a:<{w}}  {b}" if b else a)
    print(line)


if __name__ == "__main__":
    main()
