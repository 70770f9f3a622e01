"""The speed changes keep every answer: one fractile query for every interval's trend equals
the per-interval queries; cached results are the same frames on a second call."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from dash_app import stats
from dash_app.data import INTERVALS, DataSource
from dash_app.filters import Filters
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.sample.city import generate_city

TARGETS = {"call_processing": (60.0, 90.0), "turnout": ((("ems", 60.0), (None, 80.0)), 90.0)}
TARGETS |= {"travel": (240.0, 80.0)}  # total_response: none


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed")
    c = generate_city(root / "city", n_incidents=300, seed=12)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    from dispatch_analytics.spatial.zones import load_zones

    load_zones(root / "store", c.station_areas_geojson, "station_areas", "station_id")
    return DataSource(root / "store").snapshot()


@pytest.mark.parametrize("freq", ["day", "week", "month"])
@pytest.mark.parametrize(
    "f", [Filters(), Filters(categories=("ems",)), Filters(call_types=("no such type",))]
)
def test_trends_in_one_query_equal_one_query_per_interval(snap, f, freq):
    got = stats.trends(snap, f, TARGETS, freq)
    assert set(got) == set(INTERVALS)
    for m in INTERVALS:
        target, pct = TARGETS.get(m, (None, 90.0))
        assert_frame_equal(got[m], stats.trend(snap, f, m, target, pct, freq))
    assert stats.trends(snap, f, TARGETS, freq) is got  # cached per version and filters


def test_cached_unit_questions_are_the_same_frames(snap):
    f = Filters(layer="station_areas")
    a = stats.unit_turnout(snap, f, 60.0)
    assert stats.unit_turnout(snap, f, 60.0) is a
    assert_frame_equal(stats._unit_turnout(snap, f, 60.0, 90, 40), a)
    b = stats.first_due_reliability(snap, f, "station_areas")
    assert stats.first_due_reliability(snap, f, "station_areas") is b
    assert_frame_equal(stats._first_due_reliability(snap, f, "station_areas"), b)
    with pytest.raises(ValueError, match=r"`layer` 'nope' is not loaded"):
        stats.first_due_reliability(snap, f, "nope")
