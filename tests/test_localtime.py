"""The vectorised local->UTC reader agrees with Polars' own zone rules everywhere."""

import datetime as dt

import polars as pl
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_analytics.ingest.localtime import localize

ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Chicago",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Apia",
    "Asia/Kolkata",
    "UTC",
]


def _reference(s, zone, ambiguous):
    return s.dt.replace_time_zone(
        zone, ambiguous=ambiguous, non_existent="null"
    ).dt.convert_time_zone("UTC")


@pytest.mark.slow  # ~11 s of hypothesis examples
@settings(max_examples=examples(60), deadline=None)
@given(
    st.sampled_from(ZONES),
    st.lists(
        st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2035, 12, 31)),
        min_size=1,
        max_size=50,
    ),
)
def test_matches_polars(zone, values):
    s = pl.Series("t", values, dtype=pl.Datetime("us"))
    early, late = localize(s, zone)
    assert early.to_list() == _reference(s, zone, "earliest").to_list()
    assert late.to_list() == _reference(s, zone, "latest").to_list()


@pytest.mark.parametrize("zone", ZONES)
def test_every_minute_around_transitions(zone):
    days = pl.datetime_range(dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1), "1m", eager=True)
    s = days.cast(pl.Datetime("us"))
    early, late = localize(s, zone)
    assert early.equals(_reference(s, zone, "earliest"))
    assert late.equals(_reference(s, zone, "latest"))


def test_nulls_and_all_null():
    s = pl.Series(
        "t",
        [None, dt.datetime(2024, 3, 10, 2, 30), dt.datetime(2024, 3, 10, 3, 0)],
        dtype=pl.Datetime("us"),
    )
    e, lt = localize(s, "America/New_York")
    assert e.to_list()[:2] == [None, None]
    assert e[2] == dt.datetime(2024, 3, 10, 7, 0, tzinfo=dt.UTC)
    e, lt = localize(pl.Series("t", [None], dtype=pl.Datetime("us")), "UTC")
    assert e.to_list() == [None]


def test_fall_back_hour_has_two_readings():
    s = pl.Series("t", [dt.datetime(2024, 11, 3, 1, 30)], dtype=pl.Datetime("us"))
    e, lt = localize(s, "America/New_York")
    assert (lt[0] - e[0]) == dt.timedelta(hours=1)
    assert e.is_not_null().all()
