"""The dashboard, one agency at a time: the selector's default and URL, per-agency options,
status line, data quality by the call's date, maps framed on the agency's data, hexagons at a
resolution the extent shows; people's formats. Independent checks: numpy / polars over the
agency's own rows, and Web Mercator by hand."""

from __future__ import annotations

import math
import re
from urllib.parse import urlencode

import metrics_helpers as H  # noqa: E402
import numpy as np
import pytest
from conftest import copy_store

from dash_app import figures, stats, stats_map, views
from dash_app.data import DataSource
from dash_app.filters import Filters, parse_search, to_search, where_sql
from dash_app.pages import quality
from dash_app.pages.map import _hexagons, map_view
from dispatch_analytics import fmt
from dispatch_analytics.spatial.zones import load_zones

CITY = "Sample City FD"
NHOODS = H.SF_WEEK.parent / "sf_analysis_neighborhoods.geojson"


@pytest.fixture(scope="module")
def two(two_agency_store, tmp_path_factory):
    """The sample city and the SFFD slice, each with its own zone layer."""
    root = copy_store(two_agency_store, tmp_path_factory.mktemp("dash_two") / "store")
    load_zones(root, H.CITY_AREAS, "station_areas", "station_id", name_field="name", agency=CITY)
    load_zones(root, NHOODS, "sf_neighborhoods", "nhood", name_field="nhood", agency="SFFD")
    bat = H.CITY_AREAS.parent / "battalions.geojson"
    load_zones(root, bat, "battalions", "battalion_id", name_field="name", agency=CITY)
    return DataSource(root)


def test_default_agency_is_the_newest(two):
    snap = two.snapshot()
    newest = snap.query("select agency from inc order by call_received_at desc limit 1")
    assert snap.default_agency == newest["agency"][0] == CITY  # 2024 beats 2017
    assert snap.agency("SFFD") == "SFFD" and snap.agency("nowhere") == CITY
    assert snap.timezone("SFFD") == "America/Los_Angeles"
    assert snap.layers_of("SFFD") == ["sf_neighborhoods"]
    assert snap.layers_of(CITY) == ["battalions", "station_areas"]
    # the preselected layer is the finest (12 station areas before 3 battalions)
    assert snap.default_layer(CITY) == "station_areas" and snap.default_layer("SFFD") == (
        "sf_neighborhoods"
    )


def test_filters_keep_the_agency_in_the_url():
    f = parse_search("?agency=SFFD&cat=ems")
    assert f.agency == "SFFD" and "agency=SFFD" in to_search(f)
    cond, params = where_sql(f)
    assert "agency = $agency" in cond and params["agency"] == "SFFD"
    assert parse_search("").agency is None


def test_switching_agency_resets_its_filters_and_picks_its_layer(two):
    bar = (CITY, "2024-01-01", None, ["ems"], ["Fall"], ["1"], "station_areas", "nfpa1710")
    out = views.sync_filters("f-agency", "?agency=SFFD", ("SFFD", *bar[1:]), "nfpa1710", two)
    search, agency, d0, d1, cat, typ, pri, layer, _profile = out
    assert agency == "SFFD" and "agency=SFFD" in search
    assert (d0, d1, cat, typ, pri) == (None, None, [], [], [])
    assert layer == "sf_neighborhoods"
    # a page load without an agency shows the default one and its layer
    out = views.sync_filters(None, "", (None,) * 8, "nfpa1710", two)
    assert out[1] == CITY and out[7] == "station_areas"


def test_options_are_the_agencys_own(two):
    snap = two.snapshot()
    for agency in ("SFFD", CITY):
        opts = views.filter_options(two, f"?agency={agency}", "nfpa1710")
        agencies, cats, types, pris, layers, dmin, dmax = opts
        own = snap.query("select * from inc where agency = $a", {"a": agency})
        assert agencies == [CITY, "SFFD"]
        assert set(types) == set(own["call_type"].drop_nulls().to_list())
        assert set(pris) == set(own["priority"].drop_nulls().to_list())
        assert (dmin, dmax) == (own["local_date"].min(), own["local_date"].max())
        assert layers == snap.layers_of(agency)
    sf = views.filter_options(two, "?agency=SFFD", "nfpa1710")
    city = views.filter_options(two, f"?agency={CITY}", "nfpa1710")
    assert "Alarms" in sf[2] and "Alarms" not in city[2]


def test_status_line_follows_the_filters_and_shows_no_internal_ids(two):
    snap = two.snapshot()
    text = views.status_text(two, parse_search("?agency=SFFD&cat=fire"))
    n_fire = snap.query(
        "select count(*) as n from inc where agency = 'SFFD' and call_category = 'fire'"
    )["n"][0]
    n_all = snap.query("select count(*) as n from inc where agency = 'SFFD'")["n"][0]
    assert text.startswith("SFFD: ") and f"{fmt.count(n_fire)} of {fmt.count(n_all)}" in text
    assert "America/Los_Angeles" in text
    assert "version" not in text and snap.version not in text


def test_every_figure_changes_with_the_agency(two):
    from dash_app.app import profile_targets

    t = profile_targets("nfpa1710")
    views_of = {}
    for agency in ("SFFD", CITY):
        f = views.resolve_filters(two, parse_search(f"?agency={agency}"))
        cards, _alerts = views.overview_view(two, f, t, None)
        trend, heat, vol = views.trends_view(two, f, t, "week")
        views_of[agency] = (str(cards), trend.data[0].x, vol.data[0].y)
    assert all(a != b for a, b in zip(views_of["SFFD"], views_of[CITY], strict=True))


def test_overview_numbers_equal_numpy_over_the_agency(two):
    from dash_app.app import profile_targets

    snap = two.snapshot()
    f = views.resolve_filters(two, parse_search("?agency=SFFD"))
    got = stats.interval_summary(snap, f, "travel", 240.0, 90)
    v = snap.query("select travel_s from inc where agency = 'SFFD' and travel_s is not null")[
        "travel_s"
    ].to_numpy()
    want = float(np.sort(v)[math.ceil(0.9 * len(v)) - 1])
    assert got["n"] == len(v) and got["p_s"] == want
    cards, _ = views.overview_view(two, f, profile_targets("nfpa1710"), None)
    text = str(cards)
    assert fmt.duration(want) not in ("", "–")
    assert "%" in text and re.search(r"\d s\b", text) is None  # m:ss, never "726 s"
    assert fmt.duration(want) in str(views.overview_view(two, f, {"travel": (240.0, 90.0)}, None))
    assert "fa_dispatched_at" not in text  # the card says it in words; timestamps on hover


def test_quality_by_the_calls_date(two):
    # the city keeps its planted rejects (strict profile); the SF week has none since stage
    # errors are flagged, not rejected
    city = "Sample City FD"
    snap = two.snapshot()
    ro = stats.rejects_over_time(snap, city)
    dated = ro.filter(ro["local_date"].is_not_null())
    want = snap.query(
        "select i.local_date, count(*) as n from rejects_t r join inc i on i.agency = r.agency "
        "and i.incident_id = r.incident_id where r.agency = $a group by 1",
        {"a": city},
    )
    assert int(dated["n"].sum()) == int(want["n"].sum())
    assert (
        int(ro["n"].sum())
        == snap.query("select count(*) as n from rejects_t where agency = $a", {"a": city})["n"][0]
    )
    fig, *_ = quality.quality_view(two, parse_search("?" + urlencode({"agency": city})))
    assert "date of the call" in fig.layout.title.text
    fig, reasons, _c, outside, _c2 = quality.quality_view(two, parse_search("?agency=SFFD"))
    assert [r["layer"] for r in outside] == ["sf_neighborhoods"]


# ------------------------------------------------------------------------------------- maps
def _mercator_fits(center, zoom, bounds, w=figures.MAP_WIDTH_PX, h=figures.MAP_HEIGHT_PX):
    """The bounds' corners, projected at ``zoom`` around ``center``, are inside the map."""
    scale = 512 * 2**zoom

    def px(lon, lat):
        x = (lon + 180) / 360 * scale
        y = (1 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / math.pi) / 2 * scale
        return x, y

    cx, cy = px(center["lon"], center["lat"])
    west, south, east, north = bounds
    for lon, lat in ((west, south), (east, north)):
        x, y = px(lon, lat)
        if not (abs(x - cx) <= w / 2 + 1e-6 and abs(y - cy) <= h / 2 + 1e-6):
            return False
    return True


@pytest.mark.parametrize(
    "bounds",
    [(-122.52, 37.70, -122.35, 37.83), (-97.9, 30.1, -97.6, 30.45), (-1e-3, 51.5, 1e-3, 51.6)],
)
def test_frame_shows_the_bounds_with_a_margin(bounds):
    center, zoom = figures.frame(bounds)
    assert _mercator_fits(center, zoom, bounds)
    assert not _mercator_fits(center, zoom + 0.5, bounds)  # not zoomed out needlessly
    assert bounds[1] <= center["lat"] <= bounds[3] and bounds[0] <= center["lon"] <= bounds[2]


def test_frame_of_nothing_and_hex_resolution_by_extent():
    assert figures.frame(None) == ({"lat": 0.0, "lon": 0.0}, 1.0)
    city = (-122.52, 37.70, -122.35, 37.83)
    assert figures.hex_resolution(city) == 8
    assert figures.hex_resolution((-125.0, 25.0, -95.0, 40.0)) < 8  # SF to Texas
    import h3

    for b in (city, (-125.0, 25.0, -95.0, 40.0), (-123.0, 37.0, -121.0, 38.5)):
        res = figures.hex_resolution(b)
        c, z = figures.frame(b)
        m_px = 40_075_016.7 * math.cos(math.radians(c["lat"])) / (512 * 2**z)
        edge = h3.average_hexagon_edge_length(res, unit="m") / m_px
        assert edge >= 5.0 or res == 5


def test_maps_are_framed_on_the_agencys_data(two):
    from dash_app.app import GeoCache, profile_targets

    snap = two.snapshot()
    geo = GeoCache(two)
    t = profile_targets("nfpa1710")
    for agency in ("SFFD", CITY):
        f = views.resolve_filters(two, parse_search(f"?agency={agency}"))
        pts = snap.query(
            "select min(longitude) w, min(latitude) s, max(longitude) e, max(latitude) n "
            "from inc where agency = $a and latitude is not null",
            {"a": agency},
        ).row(0)
        hexf = _hexagons(snap, f, t, "travel", "volume", {"features": []}, None)
        c, z = hexf.layout.map.center, hexf.layout.map.zoom
        assert pts[1] <= c.lat <= pts[3] and pts[0] <= c.lon <= pts[2]
        assert z > 9  # a city, not the span between San Francisco and Texas
        assert hexf.layout.meta["h3_resolution"] == 8
        zone_fig, *_ = map_view(
            two,
            f,
            t,
            "p",
            "travel",
            "volume",
            None,
            geo.layer(f.layer),
            None,
            {"features": []},
            None,
        )
        bounds = figures.geojson_bounds(geo.layer(f.layer))
        assert _mercator_fits(zone_fig.layout.map.center, zone_fig.layout.map.zoom, bounds)
        bar = zone_fig.data[0].colorbar
        assert bar.title.side == "right" and bar.y < 0.5  # clear of the toolbar
        assert all(":" in s for s in bar.ticktext)  # m:ss


def test_hex_stats_group_by_parent_cells(two):
    import h3

    snap = two.snapshot()
    f = views.resolve_filters(two, parse_search(f"?agency={CITY}"))
    fine = stats_map.hex_stats(snap, f, "travel", 240.0)
    coarse = stats_map.hex_stats(snap, f, "travel", 240.0, resolution=6)
    assert {h3.get_resolution(c) for c in coarse["h3_cell"]} == {6}
    assert int(coarse["volume"].sum()) == int(fine["volume"].sum())
    parents = {h3.cell_to_parent(c, 6) for c in fine["h3_cell"]}
    assert set(coarse["h3_cell"]) == parents


def test_people_formats_in_tables_and_figures():
    import polars as pl

    from dash_app.components import people_table

    df = pl.DataFrame(
        {"p_s": [545.0, 726.0, 3725.0], "compliance": [0.9, 0.645, None], "n": [5, 1234, 0]}
    )
    data, cols = people_table(df)
    assert [c["name"] for c in cols] == ["percentile", "compliance", "n"]
    assert [r["p_s"].strip() for r in data] == ["9:05", "12:06", "1:02:05"]
    assert sorted(r["p_s"] for r in data) == [r["p_s"] for r in data]  # text sort = by size
    assert data[1]["compliance"].strip() == "64.5%" and data[2]["compliance"] == "–"
    assert data[1]["n"].strip() == "1,234"
    fig = figures.bar_figure(
        pl.DataFrame({"u": ["E1", "M2"], "p_s": [70.0, 95.0]}),
        "u",
        "p_s",
        "Turnout",
        {"target ems": 60.0, "target fire": 80.0},
        horizontal=True,
    )
    assert len(fig.layout.shapes) == 2 and fig.layout.xaxis.ticktext[0] == "0:00"
    assert fig.layout.title.x < 0.1 and fig.layout.margin.t >= 50  # title clear of the toolbar
    assert fmt.duration_ticks(0, 800) == (
        [0.0, 120.0, 240.0, 360.0, 480.0, 600.0, 720.0, 840.0],
        ["0:00", "2:00", "4:00", "6:00", "8:00", "10:00", "12:00", "14:00"],
    )


def test_filters_default_dataclass_has_agency_field():
    assert Filters().agency is None
