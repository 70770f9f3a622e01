"""Locust users of the dashboard (for bench/bench_serve.py): each loads the page, then moves
between pages and filters, posting the payloads the browser posts (bench/dash_payloads.py).

The mix is an operations room's: most viewers keep the default view (the first of
``SEARCHES``, weight ``DEFAULT_SHARE``), the others change a filter to one of the other
filter sets; every page load fires the filter bar's sync, the status line and the feed
status, then the page's own callback (overview most, then trends, units, map).

Every request is also appended to ``$BENCH_LOCUST_LOG`` (JSON lines: seconds since the first
request, name, milliseconds, error) so bench_serve.py can leave out a warm-up period and
compute p50 / p95 / max itself.

Run by hand:  locust -f bench/locustfile.py --headless -u 20 -r 20 -t 60s --host http://127.0.0.1:8050
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).parent))

from dash_payloads import MAP_DEFAULTS, SEARCHES, body, frame  # noqa: E402

DEFAULT_SHARE = float(os.environ.get("BENCH_DEFAULT_SHARE", "0.7"))
_LOG = os.environ.get("BENCH_LOCUST_LOG")
_log_lock = threading.Lock()
_t0: list[float] = []


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **kw):
    if not _LOG:
        return
    now = time.time()
    with _log_lock:
        if not _t0:
            _t0.append(now)
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "t": round(now - _t0[0], 3),
                        "name": name,
                        "ms": round(response_time, 1),
                        "error": None if exception is None else str(exception)[:200],
                    }
                )
                + "\n"
            )


def _search() -> str:
    """The default view most of the time, else another filter set."""
    return SEARCHES[0] if random.random() < DEFAULT_SHARE else random.choice(SEARCHES[1:])


class DashboardUser(HttpUser):
    """An operations manager: opens the dashboard, moves between pages and filters."""

    wait_time = between(1, 3)

    def on_start(self):
        self.client.get("/", name="page /")
        self.client.get("/_dash-layout", name="_dash-layout")
        self.client.get("/_dash-dependencies", name="_dash-dependencies")
        self.version = None

    def _post(self, name: str, payload: dict):
        with self.client.post(
            "/_dash-update-component", json=payload, name=name, catch_response=True
        ) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
            elif "response" not in r.text:
                r.failure("no callback response")

    def _frame_callbacks(self, s: str) -> None:
        """What every page load fires besides the page: status line and feed status."""
        self._post("status", body([("status-line", "children")], frame(s, self.version)))
        self._post(
            "feed-status",
            body(
                [
                    ("feed-status", "children"),
                    ("feed-status", "className"),
                    ("feed-status", "style"),
                ],
                [
                    ("refresh", "n_intervals", 1),
                    ("url", "search", s),
                    ("data-version", "data", None),
                ],
            ),
        )

    @task(4)
    def overview(self):
        s = _search()
        self._frame_callbacks(s)
        self._post(
            "overview",
            body(
                [("overview-cards", "children"), ("alerts-panel", "children")],
                frame(s, self.version),
            ),
        )

    @task(2)
    def trends(self):
        s = _search()
        self._frame_callbacks(s)
        self._post(
            "trends",
            body(
                [("trend-p90", "figure"), ("trend-heatmap", "figure"), ("trend-volume", "figure")],
                [*frame(s, self.version), ("trend-freq", "value", "month")],
            ),
        )

    @task(1)
    def units(self):
        s = _search()
        self._frame_callbacks(s)
        self._post(
            "units",
            body(
                [
                    ("units-turnout", "figure"),
                    ("units-workload", "figure"),
                    ("first-due-table", "data"),
                    ("first-due-table", "columns"),
                    ("first-due-note", "children"),
                ],
                frame(s, self.version),
            ),
        )

    @task(1)
    def map(self):
        s = _search()
        self._frame_callbacks(s)
        self._post(
            "map",
            body(
                [
                    ("map-zones", "figure"),
                    ("map-hex", "figure"),
                    ("zone-breakdown", "data"),
                    ("zone-breakdown", "columns"),
                    ("zone-title", "children"),
                ],
                [*frame(s, self.version), *MAP_DEFAULTS],
            ),
        )
