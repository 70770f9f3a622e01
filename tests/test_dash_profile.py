"""Issue 9: a standards profile per agency on the dashboard. The config's
``[agencies."NAME"] standards`` (read by the library, as ``dispatch report --config`` reads it)
sets each agency's profile; switching agency switches the profile unless the user chose one
(then it stays in the URL); the page says which profile applies and how many calls its scope
leaves out."""

from __future__ import annotations

import metrics_helpers as H  # noqa: E402
import pytest

from dash_app import views
from dash_app.choices import profile_line
from dash_app.config import DashConfig, load_config
from dash_app.data import DataSource
from dash_app.filters import Filters, ProfileDefaults, agency_switched, parse_search, to_search
from dispatch_analytics.errors import DispatchError, MetricError, StandardError
from dispatch_analytics.metrics.agency_standards import agency_profiles, agency_standard
from dispatch_analytics.metrics.report import compliance_report

CITY = "Sample City FD"
CONFIG = f"""
[dashboard]
profile = "nfpa1710"

[agencies."{CITY}"]
standards = "nfpa1720"
"""


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash_profile") / "store"
    H.sample_store(root)
    return DataSource(root)


@pytest.fixture()
def cfg(tmp_path):
    p = tmp_path / "dash.toml"
    p.write_text(CONFIG)
    return load_config(p)


def test_config_reads_the_agencies_table(cfg):
    assert cfg.agencies == {CITY: "nfpa1720"}
    assert cfg.profile == "nfpa1710" and isinstance(cfg.profile, ProfileDefaults)
    assert cfg.profile.of(CITY) == cfg.profile_for(CITY) == "nfpa1720"
    assert cfg.profile.of("SFFD") == cfg.profile.of(None) == "nfpa1710"
    assert DashConfig(agencies={"A": "cfai"}).profile.of("A") == "cfai"


@pytest.mark.parametrize(
    "toml, match",
    [
        (
            '[agencies."X"]\nstandards = "nfpa9999"\n',
            r'\[agencies."X"\]: unknown standards profile '
            r"'nfpa9999'; built-in profiles: cfai, nfpa1225, nfpa1710, nfpa1720",
        ),
        (
            '[agencies."X"]\nprofile = "cfai"\n',
            r'\[agencies."X"\]: unknown key profile; valid key: '
            "standards",
        ),
        ('[agencies."X"]\nstandards = 3\n', r"`standards` must be a profile name"),
        ('[dashboard]\nprofile = "nope"\n', r"`profile`: unknown standards profile 'nope'"),
    ],
)
def test_config_errors_name_the_item_and_the_fix(tmp_path, toml, match):
    p = tmp_path / "bad.toml"
    p.write_text(toml)
    with pytest.raises(DispatchError, match=match):
        load_config(p)


def test_filters_follow_the_agency_unless_chosen(cfg):
    d = cfg.profile
    f = parse_search("?agency=SFFD", d)
    assert (f.profile, f.profile_chosen, f.profile_source) == ("nfpa1710", False, "default")
    g = f.with_(agency=CITY)
    assert (g.profile, g.profile_source) == ("nfpa1720", "agency")
    assert "profile" not in to_search(g)  # the agency's own profile is implied
    # a profile the user chose stays, across agencies, and in the URL
    c = parse_search("?agency=SFFD&profile=cfai", d)
    assert c.profile_chosen and c.with_(agency=CITY).profile == "cfai"
    assert "profile=cfai" in to_search(c.with_(agency=CITY))
    # picking a profile in the bar: chosen when it is not the agency's own
    assert g.with_(profile="cfai").profile_chosen
    assert not g.with_(profile="nfpa1720").profile_chosen
    # without per-agency defaults the old behaviour: the URL always names the profile
    plain = parse_search("?agency=SFFD", "nfpa1710")
    assert plain.with_(agency=CITY).profile == "nfpa1710" and "profile=nfpa1710" in to_search(plain)


def test_agency_switch_keeps_a_chosen_profile_only(cfg):
    d = cfg.profile
    new = Filters(agency=CITY, profile="nfpa1710")  # the bar still shows SFFD's profile
    assert agency_switched(new, "?agency=SFFD", d).profile == "nfpa1720"
    kept = agency_switched(new, "?agency=SFFD&profile=cfai", d)
    assert kept.profile == "cfai" and kept.profile_chosen


def test_sync_filters_switches_the_profile_with_the_agency(two, cfg):
    d = cfg.profile
    bar = (CITY, None, None, [], [], [], None, "nfpa1710")
    out = views.sync_filters("f-agency", "?agency=SFFD", bar, d, two)
    assert out[1] == CITY and out[-1] == "nfpa1720" and "profile" not in out[0]
    out = views.sync_filters("f-agency", "?agency=SFFD&profile=cfai", bar, d, two)
    assert out[-1] == "cfai" and "profile=cfai" in out[0]
    # page load without an agency: the newest agency (the city) and its profile
    out = views.sync_filters(None, "", (None,) * 8, d, two)
    assert out[1] == CITY and out[-1] == "nfpa1720"


def test_profile_line_says_which_and_why(two, cfg):
    d = cfg.profile
    f = views.resolve_filters(two, parse_search("", d))
    assert profile_line(two.snapshot(), f) == f"Standards: NFPA 1720 ({CITY}'s profile)"
    f = views.resolve_filters(two, parse_search("?agency=SFFD", d))
    assert profile_line(two.snapshot(), f) == "Standards: NFPA 1710 (the dashboard's default)"
    f = views.resolve_filters(two, parse_search("?agency=SFFD&profile=cfai", d))
    assert profile_line(two.snapshot(), f) == "Standards: CFAI (chosen)"
    f = views.resolve_filters(two, parse_search("?agency=SFFD&profile=nope", d))
    assert "'nope' is not a standards profile" in profile_line(two.snapshot(), f)


def test_profile_line_counts_calls_out_of_scope(two, cfg):
    snap = two.snapshot()
    f = views.resolve_filters(two, parse_search("?agency=SFFD", cfg.profile))
    # no police calls in the sample store: nothing said; pretend the city's EMS are out of scope
    assert "not judged" not in profile_line(snap, f)
    from dispatch_analytics.metrics import standards

    real = standards.load_standard

    def scoped(name, overrides=None):
        std = real(name, overrides)
        return std.__class__(**{**std.__dict__, "exclude_call_categories": ("ems",)})

    standards.load_standard = scoped
    try:
        text = profile_line(snap, f)
    finally:
        standards.load_standard = real
    n = snap.query("select count(*) as n from inc where agency = 'SFFD' and call_category = 'ems'")
    assert text.endswith(f"· {n['n'][0]:,} ems calls not judged against NFPA 1710")


@pytest.mark.slow  # a report per agency; fast: test_filters_follow_the_agency_unless_chosen
def test_library_agency_standard_and_report(two, tmp_path):
    cfgfile = tmp_path / "local.toml"
    cfgfile.write_text(CONFIG)
    assert agency_profiles(cfgfile) == {CITY: "nfpa1720"}
    assert agency_standard(CITY, cfgfile) == "nfpa1720"
    assert agency_standard("SFFD", cfgfile) == "nfpa1710"
    assert agency_standard(None, cfgfile) == "nfpa1710"
    assert agency_standard([CITY, "X"], {CITY: "cfai", "X": "cfai"}) == "cfai"
    with pytest.raises(
        StandardError,
        match=r"different standards profiles \(Sample City FD: "
        r"nfpa1720, SFFD: nfpa1710\); choose one with `--profile NAME`",
    ):
        agency_standard([CITY, "SFFD"], cfgfile)
    store = two.store if hasattr(two, "store") else H.Store(two.root)
    rep = compliance_report(store, agency=CITY, overrides=cfgfile)
    assert rep.profile == "nfpa1720"
    assert compliance_report(store, agency="SFFD", overrides=cfgfile).profile == "nfpa1710"
    assert compliance_report(store, agency=CITY, profile="cfai", overrides=cfgfile).profile == (
        "cfai"
    )
    with pytest.raises(MetricError, match=r"different standards profiles"):
        compliance_report(store, agency="all", overrides=cfgfile)
