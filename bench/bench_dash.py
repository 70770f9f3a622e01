"""Dashboard latency benchmark: `make bench` prints a table; nothing is asserted.

For stores of 1M and 10M synthetic incidents (bench/synth.py), it builds the dashboard's
snapshot once, empties the shared results cache (dash_app/results_cache.py), then times each
page's callback body (the plain functions in dash_app.views that the callbacks wrap) over a
set of filter combinations, three ways: p50 / p95 per page and overall.

- cold: the first viewer of a filter set in a data version (every result computed);
- shared: the same views from another worker (a second DataSource, its own memo: every
  result read from the files the first one wrote);
- warm: repeated in the first process (its in-memory memo).

It also times the warm-up (every page's default view, views.warm_defaults), the time after a
new data version until the default view answers from the cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from goals import write_goal  # noqa: E402  (bench/goals.py: the goal files)

from dash_app import views  # noqa: E402
from dash_app.data import DataSource  # noqa: E402
from dash_app.filters import Filters  # noqa: E402

WORK = Path(__file__).parent / "_work"
TARGETS = {
    "call_processing": (60.0, 90.0),
    "turnout": (80.0, 90.0),
    "travel": (240.0, 90.0),
    "total_response": (480.0, 90.0),
}  # nfpa1710-style targets


def filter_sets(layer: str | None) -> list[Filters]:
    base = Filters(layer=layer)
    return [
        base,
        base.with_(categories=("ems",)),
        base.with_(categories=("fire",), priorities=("1",)),
        base.with_(date_from=date(2023, 3, 1), date_to=date(2023, 5, 31)),
        base.with_(call_types=("Structure Fire",)),
    ]


def bench_store(n: int, repeat: int) -> dict:
    import shutil

    from dash_app.results_cache import results_root

    root = WORK / f"dash_{n}"
    if not (root / "lake").exists():
        # synth.make_store, its derived table built one 2M-row file at a time (the one-shot
        # refresh of 10M unit rows peaks above 20 GB; bench/metrics_steps.py)
        from metrics_steps import step_build_store

        r = step_build_store(str(root), n, 0)
        print(
            f"built {n:,}-incident store in {r['seconds']:.1f} s (peak RSS {r['peak_mb']:,.0f} MB)",
            file=sys.stderr,
        )
    layer = None
    try:
        from dispatch_analytics.spatial.zones import assign_incidents, list_layers, load_zones
        from dispatch_analytics.store import Store

        sf = Path(__file__).parents[1] / "sample_data/sf_week/sf_analysis_neighborhoods.geojson"
        if "neighborhoods" not in list_layers(root):
            load_zones(root, sf, "neighborhoods", "nhood")
        layer = "neighborhoods"
        del Store, assign_incidents
    except ImportError:
        pass
    ds = DataSource(root)
    t = time.perf_counter()
    ds.snapshot()
    build = time.perf_counter() - t
    shutil.rmtree(results_root(ds.cache_dir), ignore_errors=True)  # cold: nothing computed
    ds._snapshot = None  # reopened: the results folder is recreated, as for a new version
    ds.snapshot()
    from dash_app.app import GeoCache

    geo = GeoCache(ds)
    gj = geo.layer(layer) if layer else None
    cells = geo.cells()

    def pages_of(ds):
        pages = {
            "overview": lambda f: views.overview_view(ds, f, TARGETS, None),
            "trends": lambda f: views.trends_view(ds, f, TARGETS, "month"),
            "units": lambda f: views.units_view(ds, f, TARGETS),
            "quality": lambda f: views.quality_view(ds),
            "status": lambda f: views.status_text(ds, f),
        }
        if layer:
            pages["map"] = lambda f: views.map_view(
                ds, f, TARGETS, "p", "total_response", "volume", None, gj, None, cells, None
            )
        return pages

    def run(pages) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {k: [] for k in pages}
        for f in filter_sets(layer):
            for name, fn in pages.items():
                t = time.perf_counter()
                fn(f)
                out[name].append(time.perf_counter() - t)
        return out

    cold = run(pages_of(ds))
    other = DataSource(root)  # another worker: its own memo, the shared result files
    other.snapshot()
    shared = run(pages_of(other))
    warm: dict[str, list[float]] = {}
    for _ in range(max(repeat - 1, 1)):
        for k, xs in run(pages_of(ds)).items():
            warm.setdefault(k, []).extend(xs)
    warm_up_s = time_warm_up(root, geo)
    return {"build": build, "times": cold, "shared": shared, "warm": warm, "warm_up": warm_up_s}


def time_warm_up(root: Path, geo) -> float | None:
    """Seconds of the warm-up of a new data version (every page's default view, from an
    empty results cache); None when it failed (said on stderr)."""
    import shutil

    from dash_app.config import load_config
    from dash_app.results_cache import results_root
    from dash_app.targets import profile_targets

    fresh = DataSource(root)
    shutil.rmtree(results_root(fresh.cache_dir), ignore_errors=True)
    fresh.snapshot()
    cfg = load_config(alerts_log=root / "alerts.log")
    t = time.perf_counter()
    try:
        views.warm_defaults(fresh, cfg, profile_targets, geo)
    except Exception as exc:  # reported, not hidden
        print(f"warm-up failed: {exc}", file=sys.stderr)
        return None
    return time.perf_counter() - t


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, -(-len(xs) * p // 100) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(
        "\nDashboard callback latency (ms; callback bodies over 5 filter sets; cold = the first\n"
        "viewer of a filter set in a data version, every result computed; shared = another\n"
        "worker, every result read from the shared results cache; warm = repeated in the\n"
        "same process, answered from its memo)"
    )
    print(f"{'incidents':>12} {'page':<10} {'p50':>8} {'p95':>8} {'max':>8}")
    for n in [int(x) for x in args.sizes.split(",")]:
        r = bench_store(n, args.repeat)
        allt = []
        for page, xs in r["times"].items():
            allt += xs
            print(
                f"{n:>12,} {page:<10} {statistics.median(xs) * 1e3:8.0f} "
                f"{pct(xs, 95) * 1e3:8.0f} {max(xs) * 1e3:8.0f}"
            )
        print(
            f"{n:>12,} {'ALL cold':<10} {statistics.median(allt) * 1e3:8.0f} "
            f"{pct(allt, 95) * 1e3:8.0f} {max(allt) * 1e3:8.0f}   "
            f"(snapshot build {r['build']:.1f} s)"
        )
        summary = {}
        for label, key in (("ALL shared", "shared"), ("ALL warm", "warm")):
            xs = [x for v in r[key].values() for x in v]
            if xs:
                summary[key] = (statistics.median(xs) * 1e3, pct(xs, 95) * 1e3, max(xs) * 1e3)
                print(
                    f"{n:>12,} {label:<10} {summary[key][0]:8.0f} {summary[key][1]:8.0f} "
                    f"{summary[key][2]:8.0f}"
                )
        if r["warm_up"] is not None:
            print(f"{n:>12,} warm-up of every page's default view: {r['warm_up']:.1f} s")
        if n == 10_000_000:
            p95 = pct(allt, 95) * 1e3
            sh = summary.get("shared", (float("nan"),) * 3)
            write_goal(
                "dash_p95_10m",
                **{
                    "work": "dashboard callbacks at 10M incidents",
                    "measured": "p95 of the callback bodies (overview, trends, units, quality, "
                    "status, map) over 5 filter sets, the first time each is seen in a data "
                    "version (every result computed)",
                    "ratio": None,
                    "value": round(p95, 1),
                    "goal": "p95 < 300 ms",
                    "met": p95 < 300,
                    "detail": f"first viewer: p50 {statistics.median(allt) * 1e3:.0f} ms, p95 "
                    f"{p95:.0f} ms, max {max(allt) * 1e3:.0f} ms; every later viewer in any "
                    f"worker (the shared results): p50 {sh[0]:.0f} ms, p95 {sh[1]:.0f} ms, max "
                    f"{sh[2]:.0f} ms; warm-up of the default views "
                    f"{r['warm_up'] or float('nan'):.1f} s; snapshot build {r['build']:.1f} s",
                },
            )


if __name__ == "__main__":
    main()
