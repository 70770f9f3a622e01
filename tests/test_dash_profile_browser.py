"""Issue 9 in headless Chromium: the dashboard's standards profile follows the agency selector
(each agency's configured profile), unless the user picks one (then it stays in the URL)."""

from __future__ import annotations

import shutil

import metrics_helpers as H  # noqa: E402
import pytest
from browser_helpers import start_app, switch_agency
from browser_helpers import text as _text
from browser_helpers import until as _until

pytestmark = pytest.mark.browser

CITY = "Sample City FD"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_profile") / "store"
    H.sample_store(root)
    return root


def test_switching_agency_switches_the_profile_shown(dash_duo, two, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(two, store)
    cfg = tmp_path / "dash.toml"
    cfg.write_text(
        f'[dashboard]\nprofile = "nfpa1710"\n\n[agencies."{CITY}"]\nstandards = "nfpa1720"\n'
    )
    start_app(dash_duo, store, config=cfg)
    line = "#profile-line"
    # the newest agency (the city) opens with its own profile
    assert _until(lambda: _text(dash_duo, line) == f"Standards: NFPA 1720 ({CITY}'s profile)")
    assert _until(lambda: "nfpa1720" in _text(dash_duo, "#f-profile"))
    switch_agency(dash_duo, "SFFD")
    assert _until(lambda: _text(dash_duo, line) == "Standards: NFPA 1710 (the dashboard's default)")
    assert _until(lambda: "nfpa1710" in _text(dash_duo, "#f-profile"))
    assert "profile=" not in dash_duo.driver.current_url  # the agency's own: implied
    # a profile the user picks stays, in the URL, when the agency changes
    dash_duo.select_dcc_dropdown("#f-profile", value="cfai")
    assert _until(lambda: "profile=cfai" in dash_duo.driver.current_url)
    assert _until(lambda: _text(dash_duo, line) == "Standards: CFAI (chosen)")
    switch_agency(dash_duo, CITY)
    assert _until(lambda: _text(dash_duo, line) == "Standards: CFAI (chosen)")
    assert "profile=cfai" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == [], dash_duo.get_logs()
