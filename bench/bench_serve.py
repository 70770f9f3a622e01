"""Load test of `dispatch serve --workers N` on loopback, and the memory of 1 vs N workers.

For a store of 1M synthetic incidents (bench/synth.py, shared with bench_dash.py) it
- starts `dispatch serve --workers W` on a free port, runs locust headless (bench/locustfile.py:
  20 users loading the page and firing the main callbacks) for ~60 s, and prints p50 / p95 /
  errors; writes the goal `bench/_work/goals/load_20_users.json` (p95 < 500 ms, no errors);
- starts the server with 1 and with 4 workers, touches every page's callback on every worker,
  and prints the RSS and PSS (proportional set size: shared pages split between processes)
  of the master and the workers together.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
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


def load_test(root: Path, workers: int, users: int, seconds: int) -> dict:
    proc, url = start(root, workers)
    try:
        touch_every_worker(url, workers)  # open the snapshot in every worker first
        prefix = WORK / f"locust_{workers}w"
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
            "--csv",
            str(prefix),
            "--only-summary",
        ]
        subprocess.run(cmd, check=False, capture_output=True, timeout=seconds + 300)
        rows = list(csv.DictReader(open(f"{prefix}_stats.csv", encoding="utf-8")))
    finally:
        stop(proc)
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    per = {r["Name"]: r for r in rows if r["Name"] != "Aggregated"}
    return {
        "requests": int(agg["Request Count"]),
        "failures": int(agg["Failure Count"]),
        "p50": float(agg["50%"]),
        "p95": float(agg["95%"]),
        "per": {
            k: (float(v["50%"]), float(v["95%"]), int(v["Request Count"])) for k, v in per.items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
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

    r = load_test(root, args.workers, args.users, args.seconds)
    print(
        f"\nLoad test: {args.users} users, {args.seconds} s, dispatch serve --workers "
        f"{args.workers}, {args.incidents:,} incidents (ms)"
    )
    print(f"{'request':<20} {'p50':>8} {'p95':>8} {'count':>8}")
    for name, (p50, p95, n) in sorted(r["per"].items()):
        print(f"{name:<20} {p50:8.0f} {p95:8.0f} {n:8d}")
    print(
        f"{'ALL':<20} {r['p50']:8.0f} {r['p95']:8.0f} {r['requests']:8d}   errors {r['failures']}"
    )
    met = r["p95"] < 500 and r["failures"] == 0
    write_goal(
        "load_20_users",
        **{
            "work": f"{args.users} concurrent dashboard users on loopback, "
            f"{args.incidents:,} incidents",
            "measured": f"locust headless {args.seconds} s against dispatch serve --workers "
            f"{args.workers}: p95 over {r['requests']} requests",
            "ratio": None,
            "value": r["p95"],
            "goal": "p95 < 500 ms, no errors",
            "met": met,
            "detail": f"p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms, {r['failures']} errors",
        },
    )


if __name__ == "__main__":
    main()
