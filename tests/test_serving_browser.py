"""Every page loads under the Content-Security-Policy with no console errors (headless
Chromium)."""

from __future__ import annotations

import pytest
from browser_helpers import start_app

from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

pytestmark = pytest.mark.browser

PAGES = ["/", "/map", "/trends", "/units", "/hotspots", "/impact", "/quality", "/coverage", "/sql"]


def test_every_page_loads_under_the_csp(dash_duo, tmp_path):
    c = generate_city(tmp_path / "city", n_incidents=200, seed=6)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=tmp_path / "store")
    start_app(dash_duo, tmp_path / "store")
    problems, csp = [], []
    for page in PAGES:
        dash_duo.driver.get(dash_duo.server_url + page)
        dash_duo.wait_for_element("#page", timeout=30)
        dash_duo.wait_for_no_elements("._dash-loading", timeout=30)
        logs = dash_duo.driver.get_log("browser")
        csp += [(page, e["message"]) for e in logs if "Content Security Policy" in e["message"]]
        problems += [(page, e["message"]) for e in logs if e["level"] == "SEVERE"]
    assert not csp, csp
    assert not problems, problems
