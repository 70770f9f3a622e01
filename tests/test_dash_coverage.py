"""The Coverage page: its plain functions, and the real page in headless Chromium (add a
station by a click and see the numbers change; close one; download the cells)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from browser_helpers import text
from conftest import copy_store
from selenium.webdriver.common.keys import Keys

import dash_app
from dash_app.app import GeoCache
from dash_app.data import DataSource
from dash_app.filters import Filters
from dash_app.pages import coverage as page
from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.analysis.coverage import Coverage
from dispatch_analytics.spatial.stations import load_stations

TOWN = Path(__file__).parent / "data" / "coverage"
os.environ.setdefault("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def town(town_store, tmp_path_factory) -> Path:
    """A copy of the session's coverage town (conftest.py ``town_store``)."""
    return copy_store(town_store, tmp_path_factory.mktemp("dash_town") / "store")


def _top_uncovered_cell(root: Path, target: float) -> str:
    cov = Coverage.from_store(Store(root), target_s=target, layer="town")
    un = cov.cells.filter(~pl.col("covered")).sort("demand", descending=True)
    return un["h3_cell"][0]


# ------------------------------------------------------------------------ plain functions
def test_apply_click_and_close():
    import h3

    cell = h3.latlng_to_cell(40.004, -99.99, 9)
    click = {"points": [{"location": cell}]}
    ch = page.apply_click(None, click, "add", None)
    lat, lon = h3.cell_to_latlng(cell)
    assert ch["add"] == [[lon, lat]] and ch["move"] == {} and ch["close"] == []
    moved = page.apply_click(ch, click, "move", "S1")
    assert moved["move"] == {"S1": [lon, lat]} and moved["add"] == ch["add"]
    assert page.apply_click(ch, click, "move", None) is page.no_update
    assert page.apply_click(ch, {"points": []}, "add", None) is page.no_update
    assert page.apply_click(ch, {"points": [{"location": "zz"}]}, "add", None) is page.no_update
    closed = page.apply_close(moved, "S1")
    assert closed["close"] == ["S1"] and closed["move"] == {}
    assert page.apply_close(closed, "new_1")["add"] == []
    assert page.apply_close(closed, None) is page.no_update


def test_coverage_outputs_and_download(town):
    ds = DataSource(town)
    geo = GeoCache(ds)
    f = Filters(layer="town")
    gaps_fig, cells_fig, numbers, changes, msg, options = page.coverage_outputs(
        ds, f, geo, 180, page.EMPTY_CHANGES
    )
    assert msg == "" and [o["value"] for o in options] == ["S1", "S2", "S3"]
    names = {t.name for t in gaps_fig.data}
    assert "failing" in names and names <= set(page.STATUS_COLOURS)
    assert len(cells_fig.data[0].locations) > 40
    cell = _top_uncovered_cell(town, 180)
    ch = page.apply_click(None, {"points": [{"location": cell}]}, "add", None)
    out = page.coverage_outputs(ds, f, geo, 180, ch)
    assert "new stations" in {t.name for t in out[1].data}
    assert [o["value"] for o in out[5]][-1] == "new_1"
    dl = page.download_payload(ds, f, 180, ch, "csv")
    assert dl["filename"] == "coverage_cells.csv" and "newly covered" in dl["content"]
    gj = page.download_payload(ds, f, 180, ch, "geojson")
    assert gj["content"].startswith('{"type": "FeatureCollection"')
    bad = page.coverage_outputs(ds, f, geo, -3, None)
    assert "positive number" in bad[4]
    far = page.coverage_outputs(ds, f, geo, 180, {"add": [[-98.0, 41.0]], "move": {}, "close": []})
    assert "outside the service area" in far[4]


def test_coverage_outputs_without_units(tmp_path):
    root = tmp_path / "s"
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    load_stations(root, TOWN / "town_stations.csv")
    ds = DataSource(root)
    out = page.coverage_outputs(ds, Filters(), GeoCache(ds), 240, None)
    assert "load units" in out[4] and out[5] == []


# ------------------------------------------------------------------------------ browser
def _text(dash_duo, sel, timeout=30):
    return text(dash_duo, sel, timeout=timeout)


def _wait_change(dash_duo, sel, before, timeout=30):
    t0 = time.time()
    while _text(dash_duo, sel) == before and time.time() - t0 < timeout:
        time.sleep(0.2)
    return _text(dash_duo, sel)


@pytest.mark.browser
def test_add_a_station_by_a_click_and_close_one(dash_duo, town, tmp_path):
    if not (shutil.which("chromedriver") and os.path.exists(os.environ["DASH_TEST_CHROMEPATH"])):
        pytest.fail("needs Debian chromium and chromium-driver: run `make browser` (as root)")
    store = tmp_path / "store"
    shutil.copytree(town, store)
    app = dash_app.create_app(store)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/coverage?layer=town")
    dash_duo.wait_for_element("#cov-cells .main-svg", timeout=40)
    dash_duo.wait_for_text_to_equal("#cov-before-covered_share", "100.0%", timeout=40)
    box = dash_duo.find_element("#cov-target")
    box.send_keys(Keys.BACKSPACE * 5, "180", Keys.TAB)
    dash_duo.wait_for_text_to_equal("#cov-before-covered_share", "14.9%", timeout=30)
    before = _text(dash_duo, "#cov-after-covered_demand")
    assert _text(dash_duo, "#cov-after-n_stations") == "3"
    cell = _top_uncovered_cell(store, 180)
    dash_duo.driver.execute_script(
        "const gd = document.querySelector('#cov-cells .js-plotly-plot');"
        "gd.emit('plotly_click', {points: [{location: arguments[0], curveNumber: 0}]});",
        cell,
    )
    after = _wait_change(dash_duo, "#cov-after-covered_demand", before)
    assert int(after.replace(",", "")) > int(before.replace(",", ""))
    assert _text(dash_duo, "#cov-after-n_stations") == "4"
    assert int(_text(dash_duo, "#cov-changed-cells").replace(",", "")) > 0
    assert "new station 1 at" in _text(dash_duo, "#cov-changes-list")
    # close station S2: the stations go back to 3
    dash_duo.select_dcc_dropdown("#cov-station", value="S2")
    dash_duo.find_element("#cov-close-btn").click()
    dash_duo.wait_for_text_to_equal("#cov-after-n_stations", "3", timeout=30)
    assert "station S2 closed" in _text(dash_duo, "#cov-changes-list")
    dash_duo.find_element("#cov-reset").click()
    dash_duo.wait_for_contains_text("#cov-changes-list", "no changes yet", timeout=30)
    assert dash_duo.get_logs() == [], dash_duo.get_logs()
