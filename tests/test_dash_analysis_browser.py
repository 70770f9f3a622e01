"""The Hotspots, Impact and Units-reliability views in the real app, headless Chromium."""

import time

import pytest
from browser_helpers import start_app

from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from dispatch_analytics.spatial.stations import load_stations
    from dispatch_analytics.spatial.zones import load_zones

    root = tmp_path_factory.mktemp("browser_an")
    c = generate_city(root / "city", n_incidents=500, seed=11)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    load_zones(
        root / "store", c.station_areas_geojson, "station_areas", "station_id", name_field="name"
    )
    load_stations(root / "store", c.stations_geojson, id_field="station_id")
    return root / "store"


def _wait_text(dash_duo, sel, needle, timeout=40):
    from selenium.common.exceptions import StaleElementReferenceException

    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            text = dash_duo.find_element(sel).text
            if needle in text:
                return text
        except (StaleElementReferenceException, Exception):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared in {sel}")


def test_hotspots_page(dash_duo, city):
    start_app(dash_duo, city)
    dash_duo.driver.get(dash_duo.server_url + "/hotspots?layer=station_areas")
    dash_duo.wait_for_element("#hs-map .main-svg", timeout=60)
    _wait_text(dash_duo, "#hs-headline", "Gi* of calls")
    # the map is drawn with the classes as legend entries, on a plain background
    _wait_text(dash_duo, "#hs-map", "not significant")
    dash_duo.find_element("#hs-by input[value='month']").click()
    _wait_text(dash_duo, "#hs-headline", "Emerging hot spots by month")
    dash_duo.find_element("#hs-by input[value='none']").click()
    dash_duo.find_element("#hs-metric input[value='late_rate']").click()
    _wait_text(dash_duo, "#hs-headline", "Gi* of late travel")
    assert dash_duo.get_logs() == [], dash_duo.get_logs()


def test_units_page_reliability(dash_duo, city):
    start_app(dash_duo, city)
    dash_duo.driver.get(dash_duo.server_url + "/units?layer=station_areas")
    for sel in (
        "#units-uhu .main-svg",
        "#units-concurrency .main-svg",
        "#units-cross-area .main-svg",
    ):
        dash_duo.wait_for_element(sel, timeout=60)
    _wait_text(dash_duo, "#units-cross-area", "Cross-area responses")
    _wait_text(dash_duo, "#units-uhu", "Unit-hour utilisation")
    _wait_text(dash_duo, "#units-concurrency", "by zone of station_areas")
    heat = dash_duo.driver.find_elements(
        "css selector", "#units-cross-area .heatmaplayer image, #units-cross-area .hm"
    )
    assert heat, "the cross-area heatmap is drawn"
    assert dash_duo.get_logs() == [], dash_duo.get_logs()


def test_impact_page(dash_duo, city):
    start_app(dash_duo, city)
    dash_duo.driver.get(dash_duo.server_url + "/impact?layer=station_areas")
    dash_duo.wait_for_element("#imp-trend .main-svg", timeout=60)
    first = _wait_text(dash_duo, "#imp-table", "after - before")
    assert "before 2024-" in first
    _wait_text(dash_duo, "#imp-detail", "Mann-Whitney")
    _wait_text(dash_duo, "#imp-trend", "before: 90th pct")
    dash_duo.select_dcc_dropdown("#imp-zone", value="Station 1 - Downtown")  # zones by name
    t0 = time.time()
    while dash_duo.find_element("#imp-table").text == first and time.time() - t0 < 30:
        time.sleep(0.3)
    assert dash_duo.find_element("#imp-table").text != first, "the zone changes the figures"
    assert dash_duo.get_logs() == [], dash_duo.get_logs()
