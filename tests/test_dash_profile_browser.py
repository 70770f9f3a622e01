"""Issue 9 in headless Chromium: the dashboard's standards profile follows the agency selector
(each agency's configured profile), unless the user picks one (then it stays in the URL)."""

from __future__ import annotations

import os
import shutil
import time

import metrics_helpers as H  # noqa: E402
import pytest

import dash_app

os.environ.setdefault("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
pytestmark = pytest.mark.browser

CITY = "Sample City FD"


@pytest.fixture(autouse=True)
def _chromium():
    """Fail (never skip) without the browser: `make test` installs it."""
    if not (shutil.which("chromedriver") and os.path.exists(os.environ["DASH_TEST_CHROMEPATH"])):
        pytest.fail("needs Debian chromium and chromium-driver: run `make browser` (as root)")


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_profile") / "store"
    H.sample_store(root)
    return root


def _text(dash_duo, sel, timeout=20):
    from selenium.common.exceptions import StaleElementReferenceException

    t0 = time.time()
    while True:
        try:
            return dash_duo.wait_for_element(sel, timeout=timeout).text
        except StaleElementReferenceException:
            if time.time() - t0 > timeout:
                raise
            time.sleep(0.1)


def _until(check, timeout=25):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if check():
                return True
        except Exception:  # an element being re-rendered
            pass
        time.sleep(0.25)
    return False


def test_switching_agency_switches_the_profile_shown(dash_duo, two, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(two, store)
    cfg = tmp_path / "dash.toml"
    cfg.write_text(
        f'[dashboard]\nprofile = "nfpa1710"\n\n[agencies."{CITY}"]\nstandards = "nfpa1720"\n'
    )
    app = dash_app.create_app(store, config=cfg)
    dash_duo.start_server(app)
    line = "#profile-line"
    # the newest agency (the city) opens with its own profile
    assert _until(lambda: _text(dash_duo, line) == f"Standards: NFPA 1720 ({CITY}'s profile)")
    assert _until(lambda: "nfpa1720" in _text(dash_duo, "#f-profile"))
    dash_duo.select_dcc_dropdown("#f-agency", value="SFFD")
    assert _until(lambda: "agency=SFFD" in dash_duo.driver.current_url)
    assert _until(lambda: _text(dash_duo, line) == "Standards: NFPA 1710 (the dashboard's default)")
    assert _until(lambda: "nfpa1710" in _text(dash_duo, "#f-profile"))
    assert "profile=" not in dash_duo.driver.current_url  # the agency's own: implied
    # a profile the user picks stays, in the URL, when the agency changes
    dash_duo.select_dcc_dropdown("#f-profile", value="cfai")
    assert _until(lambda: "profile=cfai" in dash_duo.driver.current_url)
    assert _until(lambda: _text(dash_duo, line) == "Standards: CFAI (chosen)")
    dash_duo.select_dcc_dropdown("#f-agency", value=CITY)
    assert _until(lambda: "Sample+City+FD" in dash_duo.driver.current_url)
    assert _until(lambda: _text(dash_duo, line) == "Standards: CFAI (chosen)")
    assert "profile=cfai" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == [], dash_duo.get_logs()
