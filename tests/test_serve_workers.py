"""`dispatch serve --workers N` on gunicorn, for real: a subprocess on a free loopback port
against a small store; pages and callbacks answered by both workers; one snapshot file
shared; HUP reloads gracefully; TERM stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from live_server import free_port

from dash_app.serve import ServerOptions, gunicorn_options
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.errors import DispatchError
from dispatch_analytics.sample.city import generate_city


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    c = generate_city(root / "city", n_incidents=150, seed=3)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    return root / "store"


def _status_body(search: str = "") -> dict:
    """What the browser posts for the status line's callback."""
    return {
        "output": "status-line.children",
        "outputs": {"id": "status-line", "property": "children"},
        "inputs": [
            {"id": "url", "property": "search", "value": search},
            {"id": "data-version", "property": "data", "value": None},
        ],
        "changedPropIds": ["url.search"],
        "state": [],
    }


def _start(store, *args):
    port = free_port()
    cmd = [sys.executable, "-m", "dispatch_analytics.cli", "serve", "--data-dir", str(store)]
    cmd += ["--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"dispatch serve ended: {proc.stdout.read()}")
        try:
            if requests.get(url + "/healthz", timeout=60).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("dispatch serve did not answer")


def _pids(url, n=40) -> set[int]:
    """The worker pids answering ``n`` fresh connections."""
    pids = set()
    for _ in range(n):
        with requests.Session() as s:
            r = s.get(url + "/healthz", headers={"Connection": "close"}, timeout=30)
            pids.add(r.json()["pid"])
    return pids


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(x) for x in out.stdout.split()}


@pytest.mark.slow
def test_two_workers_answer_share_one_snapshot_reload_and_stop(store):
    proc, url = _start(store, "--workers", "2", "--threads", "2", "--access-log", "-")
    try:
        workers = _children(proc.pid)
        assert len(workers) == 2
        # both workers answer (the kernel spreads fresh connections over them)
        seen = set()
        for _ in range(10):
            seen |= _pids(url)
            if seen == workers:
                break
        assert seen == workers
        page = requests.get(url + "/", timeout=30)
        assert page.status_code == 200 and "dispatch-analytics" in page.text
        assert int(page.headers["X-Dispatch-Worker"]) in workers
        answered = set()
        for _ in range(30):
            r = requests.post(
                url + "/_dash-update-component",
                json=_status_body(),
                headers={"Connection": "close"},
                timeout=60,
            )
            assert r.status_code == 200, r.text
            assert "calls selected" in r.text
            answered.add(int(r.headers["X-Dispatch-Worker"]))
        assert answered <= workers
        # one snapshot file for both workers, built once
        files = sorted((store / "cache" / "dashboard").glob("snapshot-*.duckdb"))
        assert len(files) == 1
        builds = {}
        for _ in range(40):
            r = requests.get(url + "/healthz", headers={"Connection": "close"}, timeout=30)
            builds[r.json()["pid"]] = r.json()["snapshot_builds"]
        assert sum(builds.values()) <= 1
        # HUP: new workers replace the old ones, the server keeps answering
        os.kill(proc.pid, signal.SIGHUP)
        for _ in range(300):
            now = _children(proc.pid)
            if len(now) == 2 and not (now & workers):
                break
            time.sleep(0.1)
        assert len(now) == 2 and not (now & workers)
        assert requests.get(url + "/healthz", timeout=30).json()["pid"] in now
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Handling signal: hup" in out.lower() or "hang up" in out.lower(), out
    assert '"GET /healthz' in out  # the access log went to stdout
    assert "Control socket" not in out  # none in ~/.gunicorn: two dashboards never collide


def test_options_are_checked_together(tmp_path):
    bad = ServerOptions(workers=0, threads=0, port=0, timeout_s=0, access_log=str(tmp_path / "x/y"))
    with pytest.raises(DispatchError, match=r"`--workers`.*`--threads`.*`--port`.*`--timeout`"):
        bad.check()
    with pytest.raises(DispatchError, match=r"`--access-log`.*does not exist"):
        ServerOptions(access_log=str(tmp_path / "nope" / "a.log")).check()
    ServerOptions(access_log="-").check()


def test_gunicorn_options():
    o = gunicorn_options(ServerOptions(host="::1", port=9000, workers=3, access_log="-"))
    assert o["bind"] == "[::1]:9000" and o["workers"] == 3 and o["accesslog"] == "-"
    assert o["worker_class"] == "gthread" and o["preload_app"] is False
    assert "accesslog" not in gunicorn_options(ServerOptions())


def test_cli_refuses_bad_options(store):
    cmd = [sys.executable, "-m", "dispatch_analytics.cli", "serve", "--data-dir", str(store)]
    r = subprocess.run([*cmd, "--workers", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "`--workers` must be a whole number >= 1" in r.stdout + r.stderr
    r = subprocess.run([*cmd, "--dev", "--workers", "2"], capture_output=True, text=True)
    assert r.returncode == 2 and "--dev" in r.stdout + r.stderr
