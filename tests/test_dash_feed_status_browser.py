"""The feed status in headless Chromium: a stale store shows the warning, a fresh one not."""

from __future__ import annotations

import time

import pytest
from browser_helpers import start_app

from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed_browser")
    c = generate_city(root / "city", n_incidents=150, seed=9)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    return root / "store"


def _feed(dash_duo, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        el = dash_duo.find_element("#feed-status")
        if el.text:
            return el.text, el.get_attribute("class")
        time.sleep(0.2)
    raise AssertionError("the feed status never showed")


def test_fresh_store_shows_the_last_ingest_without_warning(dash_duo, store):
    start_app(dash_duo, store, feed_stale_after_s=3600)
    text, cls = _feed(dash_duo)
    assert text.startswith("Last ingest ") and ("ago" in text or "just now" in text)
    assert cls == "feed-ok" and "stale" not in text.lower()
    assert dash_duo.get_logs() == []


def test_stale_store_shows_the_warning(dash_duo, store, tmp_path):
    # the store's only ingest finished seconds ago: past a one-second threshold it is stale
    time.sleep(1.5)
    start_app(dash_duo, store, feed_stale_after_s=1)
    text, cls = _feed(dash_duo)
    assert text.startswith("Feed stale: Last ingest ") and cls == "feed-stale"
    assert "nothing new for longer than 0:01" in text
    el = dash_duo.find_element("#feed-status")
    assert "198, 40, 40" in el.value_of_css_property("background-color")
