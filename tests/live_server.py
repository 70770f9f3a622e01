"""A real `dispatch serve` in a subprocess on a free loopback port (for tests that need a live
server: concurrency, Host checks, headers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests


#: The body of the SQL page's Run callback (one POST to /_dash-update-component).
def sql_run_body(sql: str) -> dict:
    """The JSON Dash's browser code posts when the SQL page's Run button is clicked."""
    return {
        "output": "..sql-result.data...sql-result.columns...sql-error.children..."
        "sql-info.children..",
        "outputs": [
            {"id": "sql-result", "property": "data"},
            {"id": "sql-result", "property": "columns"},
            {"id": "sql-error", "property": "children"},
            {"id": "sql-info", "property": "children"},
        ],
        "inputs": [{"id": "sql-run", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["sql-run.n_clicks"],
        "state": [
            {"id": "sql-text", "property": "value", "value": sql},
            {"id": "sql-saved", "property": "value", "value": None},
            [],
            [],
        ],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(data_dir: Path, *args: str, env: dict | None = None):
    """Run ``dispatch serve --data-dir DATA_DIR --port P ARGS...``; yield its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "dispatch_analytics.cli", "serve", "--data-dir", str(data_dir)]
    cmd += ["--port", str(port), *args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"dispatch serve ended: {proc.stdout.read()}")
            try:
                requests.get(url + "/_dash-layout", timeout=10)
                break
            # gunicorn binds the port before its worker has loaded the app: a slow answer
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
