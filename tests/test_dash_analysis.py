"""The hotspots, impact and units-reliability views (plain functions) compute nothing of their
own: they show what the library gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import copy_store

from dash_app.data import DataSource
from dash_app.filters import Filters
from dash_app.pages import hotspots, impact, units
from dispatch_analytics import fmt
from dispatch_analytics.analysis.hotspots import Hotspots
from dispatch_analytics.analysis.impact import Impact
from dispatch_analytics.analysis.reliability import Reliability
from dispatch_analytics.store import Store

SF_WEEK = Path(__file__).resolve().parents[1] / "sample_data" / "sf_week"


@pytest.fixture(scope="module")
def sf(sf_week_store, tmp_path_factory):
    """The SF week with the neighborhoods layer: a copy of the session's (conftest.py)."""
    return copy_store(sf_week_store, tmp_path_factory.mktemp("dash_an") / "store")


@pytest.mark.slow  # a Gi* run on the SF week; fast: test_impact_view_shows_the_library_result
def test_hotspots_view_shows_the_library_result(sf):
    ds = DataSource(sf)
    f = Filters(layer="neighborhoods")
    fig, summary, data, _cols = hotspots.hotspots_view(ds, f, "volume", "travel", "none")
    lib = Hotspots.from_store(Store(sf).connect(), study_area="neighborhoods")
    hot = {r["h3_cell"] for r in data if r["class"] == "hot"}
    assert hot == set(lib.hot_cells) and len(fig.data) == lib.table["class"].n_unique()
    assert f"{lib.counts['n_hot']} hot" in summary.children[0].children
    fig, summary, data, _ = hotspots.hotspots_view(ds, f, "volume", "travel", "day")
    assert "Emerging hot spots by day" in summary.children[0].children
    assert all(r["pattern"] != "no pattern" for r in data)
    fig, summary, data, _ = hotspots.hotspots_view(ds, f, "late_rate", "turnout", "none")
    assert data == [] and "per call category" in str(summary.children)  # error shown, no crash


def test_impact_view_shows_the_library_result(sf):
    ds = DataSource(sf)
    b0, b1, a0, a1 = impact.default_periods(dt.date(2016, 12, 31), dt.date(2017, 1, 7))
    assert (b1, a0) == (dt.date(2017, 1, 3), dt.date(2017, 1, 4))
    data, _cols, detail, warnings, fig = impact.impact_view(
        ds, Filters(), b0, b1, a0, a1, None, "total_response"
    )
    lib = Impact.from_store(Store(sf).connect(), before=(b0, b1), after=(a0, a1))
    # people's formats (m:ss, separators), padded so that the table sorts them by size
    assert data[0]["p90_s"].strip() == fmt.duration(lib.before["p90_s"])
    assert data[1]["n"].strip() == fmt.count(lib.after["n"])
    assert data[2]["p90_s"].strip() == fmt.value("p90_s", lib.difference["p90_diff_s"])
    assert len(fig.data) == 1
    assert "Mann-Whitney" in detail.children
    *_, warnings, fig = impact.impact_view(ds, Filters(), b0, a0, a0, a1, None, "travel")
    assert "the periods overlap" in warnings
    data, *_ = impact.impact_view(ds, Filters(), None, None, a0, a1, None, "travel")
    assert data == []
    snap = ds.snapshot()
    assert {"label": "Mission", "value": "Mission"} in impact.zone_options(snap, "neighborhoods")
    assert impact.zone_options(snap, None) == []


@pytest.mark.slow  # every reliability table; fast: test_impact_view_shows_the_library_result
def test_units_reliability_view(sf):
    ds = DataSource(sf)
    uhu, conc, cross, note = units.reliability_view(ds, Filters(layer="neighborhoods"))
    lib = Reliability.from_store(Store(sf).connect(), layer="neighborhoods")
    top = lib.utilization.head(30)
    assert sorted(uhu.data[0].y) == sorted(top["unit_id"].to_list())
    assert max(uhu.data[0].x) == pytest.approx(top["uhu"].max() * 100)
    assert len(cross.data[0].y) == lib.cross_area_matrix().height
    assert "not a station-area layer" in note
    _, conc, cross, _ = units.reliability_view(ds, Filters())
    assert len(conc.data[0].x) == 24 and not cross.data  # no layer: by hour, no matrix
