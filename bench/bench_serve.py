"""Load test of `dispatch serve --workers N` on loopback, and the memory of 1 vs N workers.

For a store of 1M synthetic incidents (bench/synth.py, shared with bench_dash.py) it
- empties the dashboard's results cache (as after a new data version), starts `dispatch serve
  --workers W` on a free port, opens the snapshot in every worker (the first one warms the
  default views), runs locust headless (bench/locustfile.py: 20 users, a realistic mix of
  default views and filter changes) for 150 s, leaves out the first 30 s (warm-up: said so in
  the output), and prints p50 / p95 / max / errors per request and overall from locust's
  per-request log, with the load average sampled during the run; writes the goal
  `bench/_work/goals/load_20_users.json` (p95 < 500 ms, no errors in the whole run);
- starts the server with 1 and with 4 workers, touches every page's callback on every worker,
  and prints the RSS and PSS (proportional set size: shared pages split between processes)
  of the master and the workers together.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))

from dash_payloads import SEARCHES, body, frame  # noqa: E402
from goals import write_goal  # noqa: E402  (bench/goals.py: the goal files)

WORK = Path(__file__).parent / "_work"
HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_store(n: int) -> Path:
    root = WORK / f"dash_{n}"
    if not (root / "lake").exists():
        from synth import make_store

        t = time.perf_counter()
        make_store(root, n)
        print(f"built {n:,}-incident store in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    from dispatch_analytics.spatial.zones import list_layers, load_zones

    sf = HERE.parent / "sample_data/sf_week/sf_analysis_neighborhoods.geojson"
    if "neighborhoods" not in list_layers(root):
        load_zones(root, sf, "neighborhoods", "nhood")
    return root


def start(root: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "dispatch_analytics.cli", "serve", "--data-dir", str(root)]
    cmd += ["--port", str(port), "--workers", str(workers), "--timeout", "300"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(6000):
        if proc.poll() is not None:
            raise RuntimeError("dispatch serve ended")
        try:
            if requests.get(url + "/healthz", timeout=600).ok:
                return proc, url
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise RuntimeError("dispatch serve did not answer")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _kb(pid: int, field: str, file: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(proc: subprocess.Popen) -> dict:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True)
    pids = [proc.pid, *(int(x) for x in out.stdout.split())]
    return {
        "workers": len(pids) - 1,
        "rss_mb": sum(_kb(p, "VmRSS", "status") for p in pids) / 1024,
        "pss_mb": sum(_kb(p, "Pss", "smaps_rollup") for p in pids) / 1024,
        "worker_rss_mb": [round(_kb(p, "VmRSS", "status") / 1024) for p in pids[1:]],
    }


def touch_every_worker(url: str, workers: int) -> None:
    """Fire the main callbacks on fresh connections until every worker answered them."""
    seen: set[str] = set()
    payloads = [
        body([("status-line", "children")], frame(SEARCHES[0], None)),
        body(
            [("overview-cards", "children"), ("alerts-panel", "children")],
            frame(SEARCHES[0], None),
        ),
        body(
            [("trend-p90", "figure"), ("trend-heatmap", "figure"), ("trend-volume", "figure")],
            [*frame(SEARCHES[0], None), ("trend-freq", "value", "month")],
        ),
    ]
    for _ in range(workers * 20):
        for p in payloads:
            r = requests.post(
                url + "/_dash-update-component",
                json=p,
                headers={"Connection": "close"},
                timeout=600,
            )
            r.raise_for_status()
            seen.add(r.headers["X-Dispatch-Worker"])
        if len(seen) >= workers:
            return


def _pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (the project's definition)."""
    xs = sorted(xs)
    return xs[max(0, -(-len(xs) * p // 100) - 1)] if xs else float("nan")


def _summary(rows: list[dict]) -> dict:
    ms = [r["ms"] for r in rows]
    return {
        "requests": len(rows),
        "failures": sum(1 for r in rows if r["error"]),
        "p50": _pct(ms, 50),
        "p95": _pct(ms, 95),
        "max": max(ms) if ms else float("nan"),
    }


class LoadSampler:
    """The 1-minute load average every ``every_s`` seconds while the test runs."""

    def __init__(self, every_s: float = 2.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        import os

        while not self._stop.wait(every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


# Long: one run of the load test, start to stop: clear the cache, start the server, open
# every worker's snapshot, run locust, read its per-request log, split off the warm-up
def load_test(root: Path, workers: int, users: int, seconds: int, warm_up_s: int) -> dict:
    import json
    import os
    import shutil

    from dash_app.data import DataSource
    from dash_app.results_cache import results_root

    # as after a new data version: no result computed yet (the snapshot file is kept)
    shutil.rmtree(results_root(DataSource(root).cache_dir), ignore_errors=True)
    proc, url = start(root, workers)
    log = WORK / f"locust_{workers}w_requests.jsonl"
    log.unlink(missing_ok=True)
    try:
        touch_every_worker(url, workers)  # open the snapshot in every worker first
        cmd = [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            url,
            "--only-summary",
        ]
        with LoadSampler() as load:
            subprocess.run(
                cmd,
                check=False,
                capture_output=True,
                timeout=seconds + 300,
                env={**os.environ, "BENCH_LOCUST_LOG": str(log)},
            )
    finally:
        stop(proc)
    rows = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    measured = [r for r in rows if r["t"] >= warm_up_s]
    per: dict[str, dict] = {}
    for name in sorted({r["name"] for r in measured}):
        per[name] = _summary([r for r in measured if r["name"] == name])
    return {
        **_summary(measured),
        "warm_up": _summary([r for r in rows if r["t"] < warm_up_s]),
        "all_failures": sum(1 for r in rows if r["error"]),
        "errors": sorted({r["error"] for r in rows if r["error"]})[:5],
        "per": per,
        "load": load.samples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=150)
    ap.add_argument(
        "--warm-up", type=int, default=30, help="seconds at the start left out of the figures"
    )
    ap.add_argument("--rss-workers", default="1,4", help="worker counts to measure memory of")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    root = ensure_store(args.incidents)

    print(f"\nServer memory, {args.incidents:,} incidents (master + workers, every page touched)")
    print(f"{'workers':>8} {'RSS MB':>8} {'PSS MB':>8}  per-worker RSS MB")
    for w in [int(x) for x in args.rss_workers.split(",") if x]:
        proc, url = start(root, w)
        try:
            touch_every_worker(url, w)
            m = memory(proc)
        finally:
            stop(proc)
        print(f"{m['workers']:>8} {m['rss_mb']:8.0f} {m['pss_mb']:8.0f}  {m['worker_rss_mb']}")

    r = load_test(root, args.workers, args.users, args.seconds, args.warm_up)
    load = r["load"]
    load_txt = (
        f"load average {min(load):.1f}-{max(load):.1f} (mean {sum(load) / len(load):.1f})"
        if load
        else "load average not sampled"
    )
    print(
        f"\nLoad test: {args.users} users, {args.seconds} s, dispatch serve --workers "
        f"{args.workers}, {args.incidents:,} incidents (ms); the first {args.warm_up} s "
        f"(warm-up) left out; {load_txt}"
    )
    print(f"{'request':<20} {'p50':>8} {'p95':>8} {'max':>8} {'count':>8} {'errors':>7}")
    for name, x in r["per"].items():
        print(
            f"{name:<20} {x['p50']:8.0f} {x['p95']:8.0f} {x['max']:8.0f} {x['requests']:8d} "
            f"{x['failures']:7d}"
        )
    print(
        f"{'ALL':<20} {r['p50']:8.0f} {r['p95']:8.0f} {r['max']:8.0f} {r['requests']:8d} "
        f"{r['failures']:7d}"
    )
    w = r["warm_up"]
    print(
        f"{'(warm-up period)':<20} {w['p50']:8.0f} {w['p95']:8.0f} {w['max']:8.0f} "
        f"{w['requests']:8d} {w['failures']:7d}"
    )
    if r["errors"]:
        print("errors:", *r["errors"], sep="\n  ")
    met = r["p95"] < 500 and r["all_failures"] == 0
    write_goal(
        "load_20_users",
        **{
            "work": f"{args.users} concurrent dashboard users on loopback, "
            f"{args.incidents:,} incidents",
            "measured": f"locust headless {args.seconds} s against dispatch serve --workers "
            f"{args.workers} from an empty results cache: p95 over the {r['requests']} "
            f"requests after a {args.warm_up} s warm-up",
            "ratio": None,
            "value": r["p95"],
            "goal": "p95 < 500 ms, no errors",
            "met": met,
            "detail": f"p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms, max {r['max']:.0f} ms, "
            f"{r['all_failures']} errors in the whole run; warm-up period: {w['requests']} "
            f"requests, p95 {w['p95']:.0f} ms; {load_txt}",
        },
    )


if __name__ == "__main__":
    main()
