"""The dashboard's feed status: the library's feed_status once per data version, the age in
words, the stale warning on the same rule as `dispatch feed-status --check`."""

from __future__ import annotations

import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

import dispatch_analytics.feeds as feeds
from dash_app import views
from dash_app.config import load_config
from dash_app.data import DataSource
from dash_app.filters import Filters
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.errors import DispatchError
from dispatch_analytics.sample.city import generate_city


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    c = generate_city(root / "city", n_incidents=120, seed=6)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    return root / "store"


@pytest.mark.parametrize(
    ("s", "want"),
    [
        (None, "never"),
        (0, "just now"),
        (59.9, "just now"),
        (60, "1 min ago"),
        (3599, "59 min ago"),
        (3600, "1 h 00 min ago"),
        (7500, "2 h 05 min ago"),
        (86400, "1 day ago"),
        (3 * 86400 + 5, "3 days ago"),
        (-5, "just now"),
    ],
)
def test_ago(s, want):
    assert views.ago(s) == want


def test_fresh_then_stale_on_the_librarys_rule(store, tmp_path, monkeypatch):
    dest = tmp_path / "store"
    shutil.copytree(store, dest)
    ds = DataSource(dest)
    st = feeds.feed_status(ds.store, 900)
    last = st["last_ingest_at"]
    calls = []
    real = feeds.feed_status
    monkeypatch.setattr(feeds, "feed_status", lambda *a, **k: calls.append(1) or real(*a, **k))
    text, cls, style = views.feed_status_view(ds, Filters(), 900, now=last + timedelta(seconds=180))
    assert cls == "feed-ok" and "3 min ago" in text and "stale" not in text.lower()
    tz = ds.snapshot().timezone(ds.snapshot().default_agency)
    assert f"{last.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} ({tz})" in text
    for minutes in (14, 15, 16, 125):  # the boundary: stale only past the threshold
        now = last + timedelta(minutes=minutes, seconds=1)
        text, cls, style = views.feed_status_view(ds, Filters(), 900, now=now)
        want = real(ds.store, 900, now=now)["stale"]
        assert (cls == "feed-stale") == want, minutes
        assert text.startswith("Feed stale") == want
    assert "2 h 05 min ago" in text and "15:00" in text and style["background"]
    assert len(calls) == 1  # once per data version and agency, whatever the requests


def test_no_ingest_for_the_agency_is_stale(store):
    ds = DataSource(store)
    snap = ds.snapshot()
    snap.agencies.append(("Nobody FD", "UTC"))
    text, cls, _ = views.feed_status_view(ds, Filters(agency="Nobody FD"), 900)
    assert cls == "feed-stale" and "no successful ingest" in text
    snap.agencies.pop()


def test_threshold_is_checked(tmp_path):
    toml = tmp_path / "d.toml"
    toml.write_text("[dashboard]\nfeed_stale_after_s = 0\n")
    with pytest.raises(DispatchError, match=r"`feed_stale_after_s` must be > 0 seconds"):
        load_config(toml)
    toml.write_text("[dashboard]\nfeed_stale_after_s = 60\n")
    assert load_config(toml).feed_stale_after_s == 60
