"""What the browser tests (``dash_duo`` in headless Chromium) share: the Chromium check, the
app start, waiting for text, switching the agency selector (review items D1, D8).

The ``browser`` mark's Chromium check runs as an autouse fixture in ``conftest.py``
(:func:`require_chromium`); the rest are plain helpers a test calls.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

#: Debian's Chromium (``make browser``); dash[testing] reads this when it starts the driver.
os.environ.setdefault("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")

__all__ = ["require_chromium", "fresh_copy", "start_app", "text", "until", "switch_agency"]


def require_chromium() -> None:
    """Fail (never skip) without the browser: `make test` installs it."""
    if not (shutil.which("chromedriver") and os.path.exists(os.environ["DASH_TEST_CHROMEPATH"])):
        pytest.fail("needs Debian chromium and chromium-driver: run `make browser` (as root)")


def fresh_copy(root: Path, tmp_path: Path) -> Path:
    """A private copy of the store at ``root`` (a module fixture's) for one test."""
    store = tmp_path / "store"
    shutil.copytree(root, store)
    return store


def start_app(dash_duo, store: Path, **options):
    """``dash_app.create_app(store, **options)`` served by ``dash_duo``; returns the app."""
    import dash_app

    app = dash_app.create_app(store, **options)
    dash_duo.start_server(app)
    return app


def text(dash_duo, sel: str, timeout: float = 20) -> str:
    """The element's text; retried while Dash re-renders it (stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException

    t0 = time.time()
    while True:
        try:
            return dash_duo.wait_for_element(sel, timeout=timeout).text
        except StaleElementReferenceException:
            if time.time() - t0 > timeout:
                raise
            time.sleep(0.1)


def until(check: Callable[[], object], timeout: float = 25) -> bool:
    """Whether ``check()`` becomes true within ``timeout`` seconds (polled; errors of an
    element or figure being re-rendered count as not yet)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if check():
                return True
        except Exception:  # a figure or element being re-rendered
            pass
        time.sleep(0.25)
    return False


def switch_agency(dash_duo, agency: str) -> None:
    """Pick ``agency`` in the agency selector and wait until the URL carries it."""
    dash_duo.select_dcc_dropdown("#f-agency", value=agency)
    wanted = "agency=" + agency.replace(" ", "+")
    assert until(lambda: wanted in dash_duo.driver.current_url), dash_duo.driver.current_url
