"""Every page loads under the Content-Security-Policy with no console errors (headless
Chromium)."""

from __future__ import annotations

import os
import shutil

import pytest

import dash_app
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

os.environ.setdefault("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
pytestmark = pytest.mark.browser

PAGES = ["/", "/map", "/trends", "/units", "/hotspots", "/impact", "/quality", "/coverage", "/sql"]


@pytest.fixture(autouse=True)
def _chromium():
    if not (shutil.which("chromedriver") and os.path.exists(os.environ["DASH_TEST_CHROMEPATH"])):
        pytest.fail("needs Debian chromium and chromium-driver: run `make browser` (as root)")


def test_every_page_loads_under_the_csp(dash_duo, tmp_path):
    c = generate_city(tmp_path / "city", n_incidents=200, seed=6)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=tmp_path / "store")
    app = dash_app.create_app(tmp_path / "store")
    dash_duo.start_server(app)
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
