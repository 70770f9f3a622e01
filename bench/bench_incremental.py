"""Incremental ingest benchmark: `make bench` prints the ratios; nothing here is asserted.

Measures (issue 13, item 5):

- a 600-row batch (CSV, ``dispatch ingest`` as the library runs it, with one zone layer
  loaded and H3 cells at resolution 8) into a store of N incidents (default 1,000,000, built
  once by :func:`synth.make_store` and cached in ``bench/_work/incr_store_N``; each run works
  on a hard-linked copy, which is safe because the store never writes a file in place) versus
  the same batch into an empty store holding the same zone layer. Goal <= 1.5x.
- ingest of an N-incident CSV (``synth.make_csv``) into a fresh store versus a bare
  ``polars.read_csv`` of it (all columns as text). Goal <= 2x.

Each measurement runs in its own process (peak RSS is that run's alone); the best of
``--repeat`` runs is shown. ``--profile`` prints a cProfile of one batch into the big store.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).parent
WORK = HERE / "_work"
sys.path.insert(0, str(HERE))

from goals import write_goal  # noqa: E402  (bench/goals.py: the goal files)
from synth import MAPPING, make_csv, make_store  # noqa: E402

NHOODS = HERE.parent / "sample_data" / "sf_week" / "sf_analysis_neighborhoods.geojson"
LAYER, ID_FIELD = "neighborhoods", "nhood"

HWM = """
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

CHILD = {
    "batch": textwrap.dedent("""
        import json, sys, time
        import polars, duckdb
        HWM
        t = time.perf_counter()
        from dispatch_analytics import ingest, load_profile
        prof = load_profile(sys.argv[2])
        r = ingest(sys.argv[1], prof, data_dir=sys.argv[3])
        secs = time.perf_counter() - t
        print(json.dumps({"seconds": secs, "accepted": r.rows_accepted, "rss_mb": hwm(),
                          "pandas": "pandas" in sys.modules}))
    """),
    "phases": textwrap.dedent("""
        import cProfile, json, pstats, sys
        import polars, duckdb
        from dispatch_analytics import ingest, load_profile
        prof = load_profile(sys.argv[2])
        p = cProfile.Profile()
        p.enable()
        ingest(sys.argv[1], prof, data_dir=sys.argv[3])
        p.disable()
        st = pstats.Stats(p)
        if sys.argv[4:] == ["print"]:  # the whole profile, for --profile
            st.sort_stats("cumulative").print_stats(45)
            raise SystemExit(0)
        out = {}
        for (file, _, func), (_, _, _, cum, _) in st.stats.items():
            for name, (mod, fn) in PHASES.items():
                if file.endswith(mod) and func == fn:
                    out[name] = out.get(name, 0) + cum
        out["total"] = max(c for (_, _, _, c, _) in st.stats.values())
        print(json.dumps(out))
    """),
    "view": textwrap.dedent("""
        import json, sys, time
        from dispatch_analytics import Store
        from dispatch_analytics.metrics.queries import run_query
        store = Store(sys.argv[1], create=False)
        params = {"metric": "total_response", "layer": "neighborhoods", "period": "month",
                  "target_s": 480}

        def best(con, n=3):
            out = []
            for _ in range(n):
                t = time.perf_counter()
                run_query(con, "fractile_compliance", dict(params))
                out.append(time.perf_counter() - t)
            return min(out)

        res = {"parts": len(store.derived_parts())}
        con = store.connect(read_only=False)
        res["query_s"] = best(con)
        # the same query over the parts without the mask (the view before parts: one file)
        parts = ", ".join("'" + str(p) + "'" for p in store.derived_parts())
        con.execute("create or replace view _derived_incidents as select * exclude (_part) "
                    f"from read_parquet([{parts}])")
        res["unmasked_s"] = best(con)
        con.close()
        print(json.dumps(res))
    """),
    "bare_read": textwrap.dedent("""
        import json, sys, time
        import polars as pl
        HWM
        t = time.perf_counter()
        df = pl.read_csv(sys.argv[1], infer_schema=False)
        print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": hwm()}))
    """),
    "full": textwrap.dedent("""
        import json, sys, time
        import polars, duckdb
        HWM
        from dispatch_analytics import ingest, load_profile
        prof = load_profile(sys.argv[2])
        t = time.perf_counter()
        r = ingest(sys.argv[1], prof, data_dir=sys.argv[3], h3_resolution=None,
                   refresh_derived=False)
        print(json.dumps({"seconds": time.perf_counter() - t, "accepted": r.rows_accepted,
                          "rss_mb": hwm()}))
    """),
}


#: The phases of a batch reported in the goal's detail: (module file, function) whose
#: cumulative time is the phase's.
PHASES = {
    "open the store (views, catalog)": ("store/store.py", "__init__"),
    "catch-up checks": ("dispatch_analytics/api.py", "finish_interrupted"),
    "write the batch": ("store/batches.py", "ingest_files"),
    "derived refresh": ("store/derived.py", "refresh_derived"),
    "zone / H3 assignment": ("spatial/changed.py", "assign_changed"),
}


def child(kind: str, *args: str) -> dict | str:
    code = CHILD[kind].replace("HWM", HWM).replace("PHASES", repr(PHASES))
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"{kind} failed:\n{out.stderr}")
    if args[-1:] == ("print",):
        return out.stdout
    return json.loads(out.stdout.strip().splitlines()[-1])


def batch_csv(path: Path, rows: int, offset: int, seed: int = 7) -> Path:
    """A ``rows``-row CSV of new incidents (ids from ``offset``), in the synth layout."""
    make_csv(path, rows, seed)
    df = pl.read_csv(path, infer_schema=False)
    df = df.with_columns((pl.col("INC").cast(pl.Int64) + offset).cast(pl.String))
    df.write_csv(path)
    return path


def big_store(n: int) -> Path:
    """The cached store of n incidents with the zone layer loaded (built once)."""
    from dispatch_analytics.spatial.zones import load_zones
    from dispatch_analytics.store.derived import SCHEMA_VERSION

    root = WORK / f"incr_store_{n}"
    done = root / ".bench-ready"
    if done.exists() and done.read_text() == SCHEMA_VERSION:
        return root
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    make_store(root, n)
    load_zones(root, NHOODS, LAYER, id_field=ID_FIELD)
    done.write_text(SCHEMA_VERSION)
    print(f"built {root} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return root


def empty_store() -> Path:
    from dispatch_analytics.spatial.zones import load_zones
    from dispatch_analytics.store import Store
    from dispatch_analytics.store.derived import SCHEMA_VERSION

    root = WORK / "incr_store_empty"
    done = root / ".bench-ready"
    if done.exists() and done.read_text() == SCHEMA_VERSION:
        return root
    shutil.rmtree(root, ignore_errors=True)
    Store(root)
    load_zones(root, NHOODS, LAYER, id_field=ID_FIELD)
    done.write_text(SCHEMA_VERSION)
    return root


def linked_copy(src: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["cp", "-al", str(src), str(dest)], check=True)
    return dest


# Long: the bench in the order it prints: build or reuse the stores, time each case, print the table and write the goals
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one batch")
    ap.add_argument("--skip-full", action="store_true", help="skip the CSV vs read_csv ratio")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    mapping = WORK / "synth_mapping.toml"
    mapping.write_text(MAPPING)
    big = big_store(args.incidents)
    empty = empty_store()
    csv = batch_csv(WORK / f"batch_{args.batch_rows}.csv", args.batch_rows, 50_000_000)
    if args.profile:
        print(
            child(
                "phases", str(csv), str(mapping), str(linked_copy(big, WORK / "run_big")), "print"
            )
        )
        shutil.rmtree(WORK / "run_big", ignore_errors=True)
        return

    def best(src: Path) -> dict:
        runs = []
        for _ in range(args.repeat):
            runs.append(child("batch", str(csv), str(mapping), str(linked_copy(src, WORK / "run"))))
            shutil.rmtree(WORK / "run", ignore_errors=True)
        return min(runs, key=lambda r: r["seconds"])

    into_empty = best(empty)
    into_big = best(big)
    # the incidents view after the batch (two parts, a 600-key mask) and folded into one
    run = linked_copy(big, WORK / "run")
    child("batch", str(csv), str(mapping), str(run))
    view_parts = child("view", str(run))
    shutil.rmtree(WORK / "run", ignore_errors=True)
    view_one = child("view", str(big))
    rows = [
        ("machine load (1 min)", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"),
        (
            f"{args.batch_rows}-row batch into an empty store",
            f"{into_empty['seconds']:.2f} s, peak RSS {into_empty['rss_mb']:,.0f} MB",
        ),
        (
            f"... into a store of {args.incidents:,} incidents",
            f"{into_big['seconds']:.2f} s, peak RSS {into_big['rss_mb']:,.0f} MB",
        ),
        (
            "batch into big / into empty",
            f"{into_big['seconds'] / into_empty['seconds']:.2f}x  (goal <= 1.5x)",
        ),
        ("pandas imported by the ingest", str(into_big["pandas"])),
        (
            "fractile_compliance zone x month, 1 part",
            f"{view_one['query_s']:.2f} s (without the mask anti-join {view_one['unmasked_s']:.2f} s)",
        ),
        (
            "... after the batch: 2 parts, 600 masked keys",
            f"{view_parts['query_s']:.2f} s (without {view_parts['unmasked_s']:.2f} s)",
        ),
    ]
    if not args.skip_full:
        full_csv = WORK / f"synth_{args.incidents}.csv"
        if not full_csv.exists():
            make_csv(full_csv, args.incidents)
        bare = min(
            (child("bare_read", str(full_csv)) for _ in range(args.repeat)),
            key=lambda r: r["seconds"],
        )
        fulls = []
        for _ in range(args.repeat):
            store = WORK / "run_full"
            shutil.rmtree(store, ignore_errors=True)
            fulls.append(child("full", str(full_csv), str(mapping), str(store)))
            shutil.rmtree(store, ignore_errors=True)
        full = min(fulls, key=lambda r: r["seconds"])
        rows += [
            ("bare polars read_csv of the CSV", f"{bare['seconds']:.2f} s"),
            (
                "ingest of the CSV (rows and rejects only)",
                f"{full['seconds']:.2f} s, peak RSS {full['rss_mb']:,.0f} MB",
            ),
            ("ingest / bare read", f"{full['seconds'] / bare['seconds']:.2f}x  (goal <= 2x)"),
        ]
    # where the time goes: one profiled batch into each store
    ph_big = child("phases", str(csv), str(mapping), str(linked_copy(big, WORK / "run")))
    shutil.rmtree(WORK / "run", ignore_errors=True)
    ph_empty = child("phases", str(csv), str(mapping), str(linked_copy(empty, WORK / "run")))
    shutil.rmtree(WORK / "run", ignore_errors=True)
    phases = "; ".join(
        f"{name} {ph_big.get(name, 0):.2f} s (empty store {ph_empty.get(name, 0):.2f} s)"
        for name in PHASES
    )
    rows.append(("phases into big (into empty), profiled", phases))
    ratio = into_big["seconds"] / into_empty["seconds"]
    write_goal(
        "batch_vs_empty",
        work=f"a {args.batch_rows}-row batch into a {args.incidents:,}-incident store vs into "
        "an empty store (one zone layer, H3 cells)",
        measured=f"{into_big['seconds']:.2f} s vs {into_empty['seconds']:.2f} s; peak RSS "
        f"{into_big['rss_mb']:,.0f} MB vs {into_empty['rss_mb']:,.0f} MB; load "
        f"{os.getloadavg()[0]:.1f}",
        ratio=ratio,
        goal="<= 1.5x",
        detail=f"cProfile of one batch: {phases}",
    )
    w = max(len(a) for a, _ in rows)
    print(f"\nIncremental ingest benchmark (best of {args.repeat})")
    print("-" * (w + 40))
    for a, b in rows:
        print(f"{a:<{w}}  {b}")
    print("-" * (w + 40))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
