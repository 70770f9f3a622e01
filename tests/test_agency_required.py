"""Issue 9: Python ``from_store(agency=None)`` on a store of several agencies never takes every
row silently: it raises the CLI's AgencyError (listing the agencies, the fix in Python's
terms); one agency in the store and None: that agency; "all": every agency, as asked."""

from __future__ import annotations

import metrics_helpers as H  # noqa: E402
import numpy as np
import pytest
from conftest import copy_store

from dispatch_analytics import Store
from dispatch_analytics.analysis.busy import BusyShares
from dispatch_analytics.analysis.coverage import CoverageGrid
from dispatch_analytics.analysis.emerging import EmergingHotspots
from dispatch_analytics.analysis.gaps import Gaps
from dispatch_analytics.analysis.hotspots import Hotspots
from dispatch_analytics.analysis.impact import Impact
from dispatch_analytics.analysis.reliability import Reliability
from dispatch_analytics.analysis.travel_model import TravelModel
from dispatch_analytics.analysis.zone_metrics import ZoneMetrics
from dispatch_analytics.api import remove_batches
from dispatch_analytics.errors import AgencyError
from dispatch_analytics.metrics.agencies import agency_names
from dispatch_analytics.metrics.fractiles import Fractiles, first_due_comparison
from dispatch_analytics.metrics.report import compliance_report
from dispatch_analytics.spatial.zones import load_zones

CITY = "Sample City FD"
MSG = (
    r'the store holds 2 agencies \(SFFD, Sample City FD\); choose one with `agency="SFFD"`, '
    r'or `agency="all"` to take them together'
)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("required") / "store"
    store = H.sample_store(root)
    load_zones(root, H.CITY_AREAS, "station_areas", "station_id", agency=CITY)
    return store


CALLS = {
    "Fractiles": lambda s, **a: Fractiles.from_store(s, metric="travel", profile=None, **a),
    "first_due_comparison": lambda s, **a: first_due_comparison(s, "station_areas", **a),
    "compliance_report": lambda s, **a: compliance_report(s, **a),
    "BusyShares": lambda s, **a: BusyShares.from_store(s, **a),
    "CoverageGrid": lambda s, **a: CoverageGrid.from_store(s, layer="station_areas", **a),
    "TravelModel": lambda s, **a: TravelModel.from_store(s, seed=0, **a),
    "Gaps": lambda s, **a: Gaps.from_store(s, layer="station_areas", target_s=240, **a),
    "ZoneMetrics": lambda s, **a: ZoneMetrics.from_store(s, layer="station_areas", **a),
    "Hotspots": lambda s, **a: Hotspots.from_store(s, **a),
    "EmergingHotspots": lambda s, **a: EmergingHotspots.from_store(s, **a),
    "Reliability": lambda s, **a: Reliability.from_store(s, **a),
    "Impact": lambda s, **a: Impact.from_store(
        s, before="2024-01-01..2024-03-31", after="2024-04-01..2024-06-30", **a
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_none_on_several_agencies_raises_the_clis_error(two, name):
    with pytest.raises(AgencyError, match=MSG):
        CALLS[name](two)


@pytest.mark.parametrize("name", ["Fractiles", "BusyShares", "Hotspots", "Reliability"])
def test_unknown_agency_lists_them(two, name):
    with pytest.raises(
        Exception,
        match=r"`agency` 'Nowhere' is not in the store; its agencies: "
        r"SFFD, Sample City FD",
    ):
        CALLS[name](two, agency="Nowhere")


def test_one_agency_and_all_are_explicit(two):
    con = two.connect(read_only=True)
    sf = con.execute(
        "select travel_s from incidents where agency = 'SFFD' and travel_s is not null"
    ).fetchnumpy()["travel_s"]
    every = con.execute("select travel_s from incidents where travel_s is not null").fetchnumpy()[
        "travel_s"
    ]
    f = Fractiles.from_store(two, metric="travel", profile=None, agency="SFFD")
    assert f.table["n"][0] == len(sf)
    assert f.table["p90_s"][0] == np.percentile(sf, 90, method="inverted_cdf")
    g = Fractiles.from_store(two, metric="travel", profile=None, agency="all")
    assert g.table["n"][0] == len(every)
    h = Fractiles.from_store(two, metric="travel", profile=None, agency=["SFFD", CITY])
    assert h.table["n"][0] == len(every)


def test_one_agency_in_the_store_and_none_is_that_agency(tmp_path):
    store = H.small_store(tmp_path / "one", H.HERE / "first_due_erf.csv")
    con = store.connect(read_only=True)
    want = con.execute("select travel_s from incidents where travel_s is not null").fetchnumpy()[
        "travel_s"
    ]
    f = Fractiles.from_store(store, metric="travel", profile=None)
    assert f.table["n"][0] == len(want)
    assert (
        compliance_report(store).agency
        == con.execute("select any_value(agency) from incidents").fetchone()[0]
    )


def test_a_scoped_connection_is_one_agency(two):
    from dispatch_analytics.metrics.agency_scope import agency_scope

    scoped = agency_scope(two, "SFFD")
    f = Fractiles.from_store(scoped, metric="travel", profile=None)
    g = Fractiles.from_store(two, metric="travel", profile=None, agency="SFFD")
    assert f.table["n"][0] == g.table["n"][0] > 0


def test_agency_names_read_the_unit_rows_only_over_the_catalogs_views(two_agency_store, tmp_path):
    """``agency_names`` asks ``responses_all`` when ``incidents`` is the catalog's view (the
    same names for one column's scan), and ``incidents`` when a table or a temporary view
    stands in for it; removing one agency's batch removes its name."""
    root = copy_store(two_agency_store, tmp_path / "store")
    st = Store(root)
    by_incidents = sorted(st.sql("select distinct agency from incidents")["agency"].to_list())
    con = st.connect()
    try:
        assert agency_names(con) == by_incidents == ["SFFD", CITY]
        con.execute("create temp view incidents as select 'Stand-in FD' as agency")
        assert agency_names(con) == ["Stand-in FD"]
    finally:
        con.close()
    mem = st.connect(read_only=False)
    try:
        mem.execute("drop view incidents")
        mem.execute("create table incidents as select 'Table FD' as agency")
        assert agency_names(mem) == ["Table FD"]
    finally:
        mem.close()
    sf = st.ingest_log().filter(st.ingest_log()["profile"] == "sffd")["batch_id"].to_list()
    remove_batches(sf, data_dir=root)
    con = Store(root).connect()
    try:
        assert agency_names(con) == [CITY]
    finally:
        con.close()
