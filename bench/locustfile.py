"""Locust users of the dashboard (for bench/bench_serve.py): each loads the page, then fires
the main callbacks with the payloads the browser posts, over the filter sets of
bench_dash.py.

Run by hand:  locust -f bench/locustfile.py --headless -u 20 -r 20 -t 60s --host http://127.0.0.1:8050
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).parent))

from dash_payloads import SEARCHES, body, frame  # noqa: E402


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

    @task(3)
    def overview(self):
        s = random.choice(SEARCHES)
        self._post("status", body([("status-line", "children")], frame(s, self.version)))
        self._post(
            "overview",
            body(
                [("overview-cards", "children"), ("alerts-panel", "children")],
                frame(s, self.version),
            ),
        )

    @task(2)
    def trends(self):
        s = random.choice(SEARCHES)
        self._post(
            "trends",
            body(
                [("trend-p90", "figure"), ("trend-heatmap", "figure"), ("trend-volume", "figure")],
                [*frame(s, self.version), ("trend-freq", "value", "month")],
            ),
        )

    @task(1)
    def units(self):
        s = random.choice(SEARCHES)
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

    @task(2)
    def feed_status(self):
        s = random.choice(SEARCHES)
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
