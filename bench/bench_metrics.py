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

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
NHOODS = HERE.parent / "sample_data" / "sf_week" / "sf_analysis_neighborhoods.geojson"
LAYER, ID_FIELD = "neighborhoods", "nhood"
QUERY_PARAMS = {"metric": "total_response", "layer": LAYER, "period": "month", "target_s": 480}
FRACTILES_KW = {"metric": "total_response", "by": (f"layer:{LAYER}", "month"), "target_s": 480}
TZ = "America/Los_Angeles"
FMT = "%Y-%m-%d %H:%M:%S"


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident set, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first run seconds, best seconds, last result) over ``repeat`` runs."""
    times, res = [], None
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return times[0], min(times), res


# ============================================================================ steps (children)
def step_points(kind: str, n: int, seed: int) -> dict:
    import geopandas as gpd
    import numpy as np
    import shapely
    from synth import SF_BBOX

    from dispatch_analytics.spatial import zones as Z

    zones = gpd.read_file(NHOODS).rename(columns={ID_FIELD: "zone_id"})
    geoms = np.asarray(zones.geometry.values, dtype=object)
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = SF_BBOX  # as synth._arrays places incidents
    lon = x0 + rng.random(n) * (x1 - x0)
    lat = y0 + rng.random(n) * (y1 - y0)
    before = rss_mb("VmRSS")
    t = time.perf_counter()
    if kind == "index":
        idx = Z.assign_point_index(lon, lat, geoms)
        secs = time.perf_counter() - t
        inside = float(np.mean(idx >= 0))
    else:
        ids = Z.assign_points(lon, lat, zones)
        secs = time.perf_counter() - t
        inside = float(np.mean(ids != None))  # noqa: E711
    return {
        "seconds": secs,
        "inputs_mb": before,
        "peak_mb": rss_mb(),
        "inside": inside,
        "zones": len(zones),
        "vertices": int(shapely.get_num_coordinates(geoms).sum()),
    }


def step_build_store(root: str, n: int, seed: int) -> dict:
    from synth import make_store

    t = time.perf_counter()
    make_store(Path(root), n, seed=seed)
    return {"seconds": time.perf_counter() - t, "peak_mb": rss_mb()}


def step_load_zones(root: str) -> dict:
    from dispatch_analytics.spatial.zones import load_zones

    before = rss_mb("VmRSS")
    t = time.perf_counter()
    rep = load_zones(root, NHOODS, LAYER, id_field=ID_FIELD)
    return {
        "seconds": time.perf_counter() - t,
        "inputs_mb": before,
        "peak_mb": rss_mb(),
        "assigned": rep.incidents_assigned,
        "outside": rep.incidents_outside,
        "unlocated": rep.incidents_unlocated,
    }


def step_query(root: str, materialise: bool, repeat: int) -> dict:
    from dispatch_analytics import Store
    from dispatch_analytics.metrics.fractiles import Fractiles
    from dispatch_analytics.metrics.queries import run_query

    store = Store(root, create=False)
    res: dict = {}
    if materialise:
        con = store.connect(read_only=False)  # in-memory database with the catalog views
        t = time.perf_counter()
        con.execute("create temp table incidents_mat as select * from incidents")
        con.execute("create or replace temp view incidents as select * from incidents_mat")
        res["materialise_s"] = time.perf_counter() - t
        res["incidents"] = con.execute("select count(*) from incidents").fetchone()[0]
    else:
        con = store.connect()  # read-only catalog
    before = rss_mb("VmRSS")
    first, best, df = _timed(
        lambda: run_query(con, "fractile_compliance", dict(QUERY_PARAMS)), repeat
    )
    res.update(query_first_s=first, query_best_s=best, groups=df.height, n_total=int(df["n"].sum()))
    first, best, f = _timed(lambda: Fractiles.from_store(con, **FRACTILES_KW), repeat)
    res.update(
        fractiles_first_s=first,
        fractiles_best_s=best,
        fractiles_groups=f.table.height,
        inputs_mb=before,
        peak_mb=rss_mb(),
    )
    if materialise:  # where the query's time goes, over the materialised table

        def secs(sql: str) -> float:
            t = time.perf_counter()
            con.execute(sql).fetchall()
            return time.perf_counter() - t

        month = "cast(date_trunc('month', {}) as date)"
        res["local_month_stored_s"] = secs(
            f"select count(distinct {month.format('call_received_local_at')}) from incidents"
        )
        res["local_month_row_tz_s"] = secs(
            f"select count(distinct {month.format('call_received_at at time zone timezone')}) "
            "from incidents"
        )
        res["ci_ranks_s"] = secs(
            "select count(*) from da_os_ci_ranks((select list({'n': n, 'pct': 90.0}) from "
            f"(select count(*) as n from incidents i left join incident_zones z on "
            f"z.incident_id = i.incident_id and z.layer = '{LAYER}' "
            "group by z.zone_id, date_trunc('month', i.call_received_at))))"
        )
    con.close()
    return res


def step_bare_read(csv: str) -> dict:
    import polars as pl

    t = time.perf_counter()
    df = pl.read_csv(csv)
    return {"seconds": time.perf_counter() - t, "rows": df.height, "peak_mb": rss_mb()}


def step_ours(csv: str, mapping: str, root: str, out: str) -> dict:
    from dispatch_analytics import Store, ingest, load_profile
    from dispatch_analytics.metrics.queries import run_query
    from dispatch_analytics.spatial.zones import load_zones

    t0 = time.perf_counter()
    rep = ingest(csv, load_profile(mapping), data_dir=root)
    t1 = time.perf_counter()
    zr = load_zones(root, NHOODS, LAYER, id_field=ID_FIELD)
    t2 = time.perf_counter()
    con = Store(root, create=False).connect()
    df = run_query(con, "fractile_compliance", dict(QUERY_PARAMS))
    con.close()
    t3 = time.perf_counter()
    df.write_parquet(out)
    return {
        "seconds": t3 - t0,
        "ingest_s": t1 - t0,
        "zones_s": t2 - t1,
        "query_s": t3 - t2,
        "rows": rep.rows_read,
        "accepted": rep.rows_accepted,
        "rejected": rep.rows_rejected,
        "rejects": rep.rejects_by_reason,
        "assigned": zr.incidents_assigned,
        "groups": df.height,
        "peak_mb": rss_mb(),
    }


def step_pandas(csv: str, out: str) -> dict:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import polars as pl

    def nearest_rank(p):
        def f(s):
            return np.percentile(s.to_numpy(), p, method="inverted_cdf") if len(s) else np.nan

        f.__name__ = f"p{p}_s"
        return f

    t0 = time.perf_counter()
    df = pd.read_csv(csv)
    t1 = time.perf_counter()
    rcvd = pd.to_datetime(df["RCVD"], format=FMT)
    arrv = pd.to_datetime(df["ARRV"], format=FMT)
    rcvd_tz = rcvd.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
    arrv_tz = arrv.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
    df["total_response_s"] = (arrv_tz - rcvd_tz).dt.total_seconds()
    df["month"] = rcvd.dt.to_period("M").dt.start_time.where(rcvd_tz.notna())
    t2 = time.perf_counter()
    nb = gpd.read_file(NHOODS)[[ID_FIELD, "geometry"]]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df["LON"], df["LAT"]), crs="EPSG:4326")
    j = gpd.sjoin(pts, nb, predicate="within", how="left")
    j = j[~j.index.duplicated(keep="first")]  # a point on a shared edge: first zone
    df["zone_id"] = j[ID_FIELD].reindex(df.index)
    t3 = time.perf_counter()
    ok = df[df["month"].notna()]
    g = ok.groupby(["zone_id", "month"], dropna=False)["total_response_s"]
    res = g.agg(["count", "mean", nearest_rank(50), nearest_rank(90), nearest_rank(95)])
    res["compliance"] = g.apply(lambda s: float((s.dropna() <= 480).mean()))
    res = res.rename(columns={"count": "n", "mean": "mean_s"}).reset_index()
    t4 = time.perf_counter()
    pl.from_pandas(res).write_parquet(out)
    return {
        "seconds": t4 - t0,
        "read_s": t1 - t0,
        "times_s": t2 - t1,
        "sjoin_s": t3 - t2,
        "groupby_s": t4 - t3,
        "groups": len(res),
        "n_total": int(res["n"].sum()),
        "peak_mb": rss_mb(),
    }


STEPS = {
    "points_index": lambda a: step_points("index", a.points, a.seed),
    "points_ids": lambda a: step_points("ids", a.points, a.seed),
    "build_store": lambda a: step_build_store(a.root, a.incidents, a.seed),
    "load_zones": lambda a: step_load_zones(a.root),
    "query": lambda a: step_query(a.root, False, a.repeat),
    "query_mat": lambda a: step_query(a.root, True, a.repeat),
    "bare_read": lambda a: step_bare_read(a.csv),
    "ours": lambda a: step_ours(a.csv, a.mapping, a.root, a.out),
    "pandas": lambda a: step_pandas(a.csv, a.out),
}


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
        m = args.incidents
        section(f"(b) fractiles by zone and month, {m:,} incidents (goal < 1 s)")
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
        r = child("load_zones", root=root)
        row(
            "load_zones (41 zones, assigns every incident)",
            f"{r['seconds']:.1f} s, peak RSS {r['peak_mb']:,.0f} MB; {r['assigned']:,} in a "
            f"zone, {r['outside']:,} outside, {r['unlocated']:,} unlocated",
        )
        q = child("query", root=root, repeat=args.repeat)
        row(
            "run_query fractile_compliance (catalog view)",
            f"first {q['query_first_s']:.2f} s, best of {args.repeat} {q['query_best_s']:.2f} s; "
            f"{q['groups']:,} groups, n = {q['n_total']:,}",
        )
        row(
            "Fractiles.from_store (catalog view)",
            f"first {q['fractiles_first_s']:.2f} s, best of {args.repeat} "
            f"{q['fractiles_best_s']:.2f} s; {q['fractiles_groups']:,} groups; peak RSS "
            f"{q['peak_mb']:,.0f} MB",
        )
        qm = child("query_mat", root=root, repeat=args.repeat)
        row(
            "  materialise incidents (create temp table, once)",
            f"{qm['materialise_s']:.2f} s ({qm['incidents']:,} rows)",
        )
        row(
            "run_query fractile_compliance (MATERIALISED incidents)",
            f"first {qm['query_first_s']:.2f} s, best of {args.repeat} "
            f"{qm['query_best_s']:.2f} s; {qm['groups']:,} groups",
        )
        row(
            "Fractiles.from_store (MATERIALISED incidents)",
            f"first {qm['fractiles_first_s']:.2f} s, best of {args.repeat} "
            f"{qm['fractiles_best_s']:.2f} s; peak RSS {qm['peak_mb']:,.0f} MB",
        )
        goal = (
            f"catalog view {q['query_best_s']:.2f} s "
            f"({'met' if q['query_best_s'] < 1 else 'NOT met'}); materialised incidents "
            f"{qm['query_best_s']:.2f} s ({'met' if qm['query_best_s'] < 1 else 'NOT met'})"
        )
        row(
            "  of which: local month from stored call_received_local_at",
            f"{qm['local_month_stored_s']:.2f} s (a per-row zone lookup instead: "
            f"{qm['local_month_row_tz_s']:.2f} s)",
        )
        row("  of which: da_os_ci_ranks (binomial terms within 12 sd)", f"{qm['ci_ranks_s']:.2f} s")
        row("goal < 1 s", goal)

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
        row("results agree", compare(ours_out, pd_out))

    w = max(len(a) for a, b in rows if b)
    line = "-" * min(w + 100, 160)
    print(f"\nMetrics benchmark ({time.perf_counter() - t_all:.0f} s wall in all)")
    print(line)
    for a, b in rows:
        print(f"{a:<{w}}  {b}" if b else a)
    print(line)


if __name__ == "__main__":
    main()
