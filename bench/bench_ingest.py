"""Ingest benchmark: `make bench` prints a table; nothing here is asserted.

Measures, at N unit rows (default 1,000,000) of a synthetic CAD export (CSV):
- a bare ``polars.read_csv`` of the file (all columns as text), seconds and peak RSS;
- ``dispatch ingest`` of the same file into a fresh store: seconds, rows/s, peak RSS.
Each measurement runs in its own process so peak RSS is that run's alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl

from dispatch_analytics.sample.city import mapping_toml

HERE = Path(__file__).parent
WORK = HERE / "_work"

# the CSV below has the sample city's layout, so the sample city's mapping ingests it
MAPPING = mapping_toml()


def make_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A CAD-like unit-grain CSV of n rows (about 2.4 units per incident, 1% dirty)."""
    rng = np.random.default_rng(seed)
    n_inc = int(n / 2.4) + 1
    inc_of_row = np.sort(rng.integers(0, n_inc, n))
    start = np.datetime64("2023-01-01T00:00:00", "s")
    rcvd_inc = start + np.sort(rng.integers(0, 365 * 86400, n_inc)).astype("timedelta64[s]")
    rcvd = rcvd_inc[inc_of_row]
    disp = rcvd + rng.lognormal(np.log(50), 0.5, n).astype("int64").astype("timedelta64[s]")
    enrt = disp + rng.lognormal(np.log(60), 0.4, n).astype("int64").astype("timedelta64[s]")
    arrv = enrt + rng.lognormal(np.log(300), 0.5, n).astype("int64").astype("timedelta64[s]")
    trans = arrv + rng.integers(600, 1800, n).astype("timedelta64[s]")
    hosp = trans + rng.integers(300, 1500, n).astype("timedelta64[s]")
    clr = hosp + rng.integers(300, 3600, n).astype("timedelta64[s]")
    transported = rng.random(n) < 0.35
    fmt = "%m/%d/%Y %H:%M:%S"

    def txt(a, keep=None):
        s = pl.Series(a.astype("datetime64[ms]")).dt.strftime(fmt)
        return (
            s
            if keep is None
            else s.zip_with(pl.Series(keep), pl.Series([None] * n, dtype=pl.String))
        )

    types = np.array(
        [
            "Medical Emergency",
            "Cardiac Arrest",
            "Fall",
            "Structure Fire",
            "Alarm Activation",
            "Vehicle Fire",
            "Traffic Collision",
            "Public Assist",
        ]
    )
    df = pl.DataFrame(
        {
            "INC_NO": pl.Series(inc_of_row).cast(pl.String).str.zfill(8),
            "UNIT": pl.Series(rng.choice(["E", "M", "T"], n))
            + pl.Series(rng.integers(1, 40, n)).cast(pl.String),
            "UNIT_TYPE": pl.Series(rng.choice(["ENGINE", "MEDIC", "TRUCK"], n)),
            "STATION": pl.Series(rng.integers(1, 40, n)).cast(pl.String).str.zfill(2),
            "NATURE": pl.Series(types[rng.integers(0, len(types), n)]),
            "PRI": pl.Series(rng.integers(1, 4, n)).cast(pl.String),
            "T_RCVD": txt(rcvd),
            "T_DISP": txt(disp),
            "T_ENRT": txt(enrt),
            "T_ARRV": txt(arrv),
            "T_TRANS": txt(trans, transported),
            "T_HOSP": txt(hosp, transported),
            "T_CLR": txt(clr),
            "LAT": pl.Series(30.1 + rng.random(n) * 0.3).round(6).cast(pl.String),
            "LON": pl.Series(-97.9 + rng.random(n) * 0.3).round(6).cast(pl.String),
        }
    )
    dirty = rng.random(n) < 0.01
    df = df.with_columns(
        pl.when(pl.Series(dirty)).then(pl.lit("0")).otherwise(pl.col(c)).alias(c)
        for c in ("LAT", "LON")
    )
    df.write_csv(path)
    return path


# VmHWM is the peak RSS of this process image alone (ru_maxrss would include the parent's
# memory at fork time on Linux).
# CPU seconds (user + sys, every thread) of this process: the work, which a busy machine's
# wall clock hides; compare CPU figures across runs on a shared machine.
HWM = """
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
"""

CHILD = {
    "bare_read": textwrap.dedent("""
        import json, resource, sys, time
        import polars as pl
        HWM
        t, c = time.perf_counter(), cpu()
        df = pl.read_csv(sys.argv[1], infer_schema=False)
        secs = time.perf_counter() - t
        print(json.dumps({"seconds": secs, "cpu_s": cpu() - c, "rows": df.height,
                          "rss_mb": hwm()}))
    """),
    "ingest": textwrap.dedent("""
        import json, resource, sys, time
        from dispatch_analytics import ingest, load_profile
        HWM
        prof = load_profile(sys.argv[2])
        t, c = time.perf_counter(), cpu()
        h3 = None if sys.argv[5] == "none" else int(sys.argv[5])
        r = ingest(sys.argv[1], prof, data_dir=sys.argv[3], chunk_rows=int(sys.argv[4]),
                   h3_resolution=h3, refresh_derived=sys.argv[6] == "derive")
        secs = time.perf_counter() - t
        print(json.dumps({"seconds": secs, "cpu_s": cpu() - c, "rows": r.rows_read, "accepted": r.rows_accepted,
                          "rejected": r.rows_rejected,
                          "rss_mb": hwm()}))
    """),
    "baseline_rss": textwrap.dedent("""
        import json, resource
        import polars, duckdb, dispatch_analytics.ingest
        HWM
        print(json.dumps({"rss_mb": hwm()}))
    """),
}


def child(kind: str, *args: str) -> dict:
    code = CHILD[kind].replace("HWM", HWM)
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu(r: dict) -> str:
    return f"cpu {r['cpu_s']:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; best is shown")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    csv = WORK / f"units_{args.rows}.csv"
    if not csv.exists():
        t = time.perf_counter()
        make_csv(csv, args.rows)
        print(f"generated {csv} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    mapping = WORK / "mapping.toml"
    mapping.write_text(MAPPING)
    size_mb = csv.stat().st_size / 1e6

    bare = min(
        (child("bare_read", str(csv)) for _ in range(args.repeat)), key=lambda r: r["seconds"]
    )

    def run_ingest(chunk_rows: int, h3: str = "none", derive: str = "no") -> dict:
        runs = []
        for i in range(args.repeat):
            store = WORK / f"store{i}"
            shutil.rmtree(store, ignore_errors=True)
            runs.append(
                child("ingest", str(csv), str(mapping), str(store), str(chunk_rows), h3, derive)
            )
            shutil.rmtree(store, ignore_errors=True)
        return min(runs, key=lambda r: r["seconds"])

    ing = run_ingest(100_000)
    full = run_ingest(100_000, "8", "derive")
    sweep = {c: run_ingest(c) for c in (50_000, 250_000)}
    base = child("baseline_rss")

    rows = [
        ("CSV", f"{args.rows:,} unit rows, {size_mb:,.0f} MB"),
        (
            "bare polars read_csv",
            f"{bare['seconds']:.2f} s, {_cpu(bare)}, peak RSS {bare['rss_mb']:,.0f} MB",
        ),
        (
            "ingest proper (--chunk-rows 100,000)",
            f"{ing['seconds']:.2f} s, {_cpu(ing)}, peak RSS {ing['rss_mb']:,.0f} MB",
        ),
        ("ingest rows/s", f"{ing['rows'] / ing['seconds']:,.0f}"),
        ("accepted / rejected", f"{ing['accepted']:,} / {ing['rejected']:,}"),
        ("ingest time / bare read", f"{ing['seconds'] / bare['seconds']:.2f}x  (goal <= 2x)"),
        ("ingest peak RSS / CSV size", f"{ing['rss_mb'] / size_mb:.2f}x  (goal well under 3x)"),
        ("  of which libraries at import", f"{base['rss_mb']:,.0f} MB"),
        (
            "full `dispatch ingest` (+ H3 cells, + derived incidents table)",
            f"{full['seconds']:.2f} s, {_cpu(full)}, peak RSS {full['rss_mb']:,.0f} MB",
        ),
        *[
            (
                f"--chunk-rows {c:,}",
                f"{r['seconds']:.2f} s, {_cpu(r)}, peak RSS {r['rss_mb']:,.0f} MB "
                f"({r['rss_mb'] / size_mb:.2f}x CSV)",
            )
            for c, r in sweep.items()
        ],
    ]
    w = max(len(a) for a, _ in rows)
    print(f"\nIngest benchmark (best of {args.repeat})")
    print("-" * (w + 45))
    for a, b in rows:
        print(f"{a:<{w}}  {b}")
    print("-" * (w + 45))


if __name__ == "__main__":
    main()
