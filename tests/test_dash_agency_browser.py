"""The real dashboard in headless Chromium over a store of two agencies: the agency selector
(switching changes the figures and the URL), people's formats (m:ss, %) on the page, and maps
that render with the agency's data in view (their centre and zoom checked against the data)."""

from __future__ import annotations

import re

import metrics_helpers as H  # noqa: E402
import pytest
from browser_helpers import fresh_copy as _fresh_copy
from browser_helpers import start_app, switch_agency
from browser_helpers import text as _text
from browser_helpers import until as _until

from dispatch_analytics.spatial.zones import load_zones

pytestmark = pytest.mark.browser

CITY = "Sample City FD"
NHOODS = H.SF_WEEK.parent / "sf_analysis_neighborhoods.geojson"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_two") / "store"
    H.sample_store(root)
    load_zones(root, H.CITY_AREAS, "station_areas", "station_id", name_field="name", agency=CITY)
    load_zones(root, NHOODS, "sf_neighborhoods", "nhood", name_field="nhood", agency="SFFD")
    return root


def _map_view(dash_duo, graph_id):
    """The rendered figure's map centre and zoom, and its first trace's locations."""
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "if (!g || !g._fullLayout || !g._fullLayout.map) return null;"
        "const m = g._fullLayout.map;"
        "return {lat: m.center.lat, lon: m.center.lon, zoom: m.zoom,"
        " n: (g.data[0] && g.data[0].locations) ? g.data[0].locations.length : 0};"
    )


def test_agency_selector_switches_figures_and_url(dash_duo, two, tmp_path):
    start_app(dash_duo, _fresh_copy(two, tmp_path))
    card = "#card-total_response"
    dash_duo.wait_for_element(card, timeout=30)
    assert _until(lambda: _text(dash_duo, "#status-line").startswith(CITY))  # newest data
    before = _text(dash_duo, card)
    turnout = _text(dash_duo, "#card-turnout")
    # people's formats on the cards: m:ss and %, no raw seconds or column names
    assert re.search(r"\b\d+:\d\d\b", before) and "%" in turnout
    for text in (before, turnout):
        assert re.search(r"\d s\b", text) is None and "_at" not in text
    switch_agency(dash_duo, "SFFD")
    assert _until(lambda: _text(dash_duo, "#status-line").startswith("SFFD:"))
    assert _until(lambda: _text(dash_duo, card) != before)
    assert "America/Los_Angeles" in _text(dash_duo, "#status-line")
    assert "version" not in _text(dash_duo, "#status-line")
    # the call-type options are SFFD's own ("Alarms"; the city calls them "Alarm Activation")
    dash_duo.select_dcc_dropdown("#f-type", value="Alarms")
    assert _until(lambda: "type=Alarms" in dash_duo.driver.current_url)
    # the bookmarked URL reopens SFFD
    dash_duo.driver.get(dash_duo.driver.current_url)
    assert _until(lambda: _text(dash_duo, "#status-line").startswith("SFFD:"))
    assert dash_duo.get_logs() == [], dash_duo.get_logs()


def test_maps_render_with_the_agencys_data_in_view(dash_duo, two, tmp_path):
    start_app(dash_duo, _fresh_copy(two, tmp_path))
    for agency, (south, north, west, east) in (
        ("SFFD", (37.6, 37.9, -122.6, -122.3)),
        (CITY, (30.0, 30.6, -98.1, -97.4)),
    ):
        dash_duo.driver.get(f"{dash_duo.server_url}/map?agency={agency.replace(' ', '+')}")
        dash_duo.wait_for_element("#map-hex .main-svg", timeout=30)
        dash_duo.wait_for_element("#map-zones .main-svg", timeout=30)
        for graph in ("map-hex", "map-zones"):
            ok = _until(lambda g=graph: (_map_view(dash_duo, g) or {}).get("n", 0) > 5)
            assert ok, (agency, graph, _map_view(dash_duo, graph))
            v = _map_view(dash_duo, graph)
            assert south <= v["lat"] <= north and west <= v["lon"] <= east, (agency, graph, v)
            assert 9.5 <= v["zoom"] <= 13.5, (agency, graph, v)
        # the zone layer dropdown preselects the agency's layer
        layer = "sf_neighborhoods" if agency == "SFFD" else "station_areas"
        assert _until(lambda lyr=layer: lyr in _text(dash_duo, "#f-layer"))
    assert dash_duo.get_logs() == [], dash_duo.get_logs()
