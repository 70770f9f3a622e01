"""The results cache under `dispatch serve`: the first worker warms the default views into
the shared folder, another worker's viewer reads them, and a stopped worker ends (it used to
hang for good in Python's finalisation, outliving its master)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
from live_server import free_port

from dash_app.data import DataSource
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache_serve")
    c = generate_city(root / "city", n_incidents=150, seed=4)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    return root / "store"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) has ended too
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_served_workers_warm_share_and_stop(store):
    port = free_port()
    cmd = [sys.executable, "-m", "dispatch_analytics.cli", "serve", "--data-dir", str(store)]
    cmd += ["--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    pids: set[int] = set()
    try:
        for _ in range(600):
            assert proc.poll() is None, proc.stdout.read()
            try:
                r = requests.get(url + "/_dash-layout", timeout=60)  # opens the snapshot
                if r.ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        for _ in range(40):
            with requests.Session() as s:
                r = s.get(url + "/healthz", headers={"Connection": "close"}, timeout=60)
                pids.add(r.json()["pid"])
                if r.json()["version"] is None:  # this worker has not opened it yet
                    s.get(url + "/_dash-layout", headers={"Connection": "close"}, timeout=60)
        ds = DataSource(store)
        folder = ds.snapshot().results.folder
        deadline = time.time() + 120
        while time.time() < deadline and len(list(folder.glob("overview_stats-*.result"))) < 1:
            time.sleep(0.5)
        # the warm-up wrote the default overview (and the rest of the default views)
        assert list(folder.glob("overview_stats-*.result"))
        assert list(folder.glob("status_counts-*.result"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert pids and not any(_alive(p) for p in pids), "a worker outlived its master"


@pytest.mark.parametrize(
    "body, code",
    [
        ("sys.exit(0)", 0),
        ("sys.exit(3)", 3),  # gunicorn's WORKER_BOOT_ERROR: the master must see it
        ("raise RuntimeError('x')", 1),
        ("pass", 0),
    ],
)
def test_worker_exit_keeps_the_exit_code(body, code):
    prog = (
        "import sys\nfrom dash_app.serve import _worker_exit\n"
        f"try:\n    {body}\nfinally:\n    _worker_exit(None, None)\n"
        "print('finalisation reached')\n"
    )
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert r.returncode == code
    assert "finalisation reached" not in r.stdout
