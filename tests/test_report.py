"""Compliance reports: table, quality, metadata and every output format."""

from __future__ import annotations

import json
import zipfile

import metrics_helpers as H  # noqa: E402
import numpy as np
import polars as pl
import pytest
from conftest import copy_store

from dispatch_analytics import Store
from dispatch_analytics.metrics.fractiles import Fractiles, MetricError
from dispatch_analytics.metrics.report import QUALITY_COLUMNS, TABLE_COLUMNS, compliance_report


@pytest.fixture(scope="module")
def sample(two_agency_store, tmp_path_factory):
    store = Store(copy_store(two_agency_store, tmp_path_factory.mktemp("sample") / "store"))
    con = store.connect(read_only=False)
    H.add_zone_tables(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def rep(sample):
    return compliance_report(
        sample, agency="all", profile="nfpa1710", layer="station_areas", period="quarter"
    )


def test_table_columns_and_entries(rep):
    assert rep.table.columns == TABLE_COLUMNS
    assert rep.quality.columns == QUALITY_COLUMNS
    assert set(rep.table["standard"]) == {
        "call_processing",
        "turnout_ems",
        "turnout_fire",
        "travel_first_unit",
        "travel_als",
        "erf_travel",
    }
    assert rep.table["profile"].unique().to_list() == ["nfpa1710"]
    t = rep.table.filter(pl.col("standard") == "turnout_ems")
    assert set(t["start"]) == {"dispatched_at"} and set(t["end"]) == {"enroute_at"}
    assert "first-arriving unit" in t["basis"][0]
    # p-th percentile <= target exactly when compliance >= p%
    ok = rep.table.filter(pl.col("n") > 0, pl.col("target_s").is_not_null())
    assert ok.height > 100
    assert (ok["met"] == (ok["compliance"] >= ok["percentile"] / 100)).all()
    assert set(rep.table["flag"].drop_nulls()) <= {"no_data", "small_sample", "ci_unbounded"}


def test_table_equals_the_engine_and_pandas(sample, rep):
    f = Fractiles.from_store(
        sample,
        agency="all",  # as the report: both agencies, explicitly
        metric="turnout",
        entry="turnout_ems",
        by=("layer:station_areas", "quarter"),
        percentiles=(),
    )
    a = rep.table.filter(pl.col("standard") == "turnout_ems").select(
        "zone_id", "period_start", "n", "p_value_s", "compliance", "ci_low_s", "ci_high_s"
    )
    b = f.table.select(a.columns)
    assert a.sort("zone_id", "period_start", nulls_last=True).equals(
        b.sort("zone_id", "period_start", nulls_last=True)
    )
    # one cell by hand
    row = a.filter(pl.col("zone_id") == "S05").sort("period_start").row(0, named=True)
    v = (
        sample.execute(
            "select i.turnout_s from incidents i join incident_zones z on z.incident_id = "
            "i.incident_id and z.layer = 'station_areas' where z.zone_id = 'S05' and "
            "i.call_category = 'ems' and date_trunc('quarter', i.call_received_at at time zone "
            "i.timezone) = $q and i.turnout_s is not null",
            {"q": row["period_start"]},
        )
        .pl()["turnout_s"]
        .to_numpy()
    )
    assert row["n"] == len(v)
    assert row["p_value_s"] == np.percentile(v, 90, method="inverted_cdf")
    assert row["compliance"] == np.mean(v <= 60)


def test_quality_explains_exclusions(rep):
    q = rep.quality
    sections = set(q["section"])
    assert {
        "ingest",
        "rejects",
        "flagged_times",
        "missing_interval",
        "outside_zone",
        "missing_interval_in_scope",
    } <= sections
    rej = q.filter((pl.col("section") == "rejects") & pl.col("source").str.contains("city"))
    assert rej["n"].sum() == 106 and rej.height == 9  # the planted reject reasons
    miss = q.filter(pl.col("section") == "missing_interval_in_scope")
    assert set(miss["item"]) == set(rep.table["standard"])
    scoped = miss.filter(pl.col("item") == "turnout_ems").row(0, named=True)
    t = rep.table.filter(pl.col("standard") == "turnout_ems")
    assert scoped["n"] == t["n_missing"].sum()
    assert scoped["total"] == t["n"].sum() + t["n_missing"].sum()
    out = q.filter((pl.col("section") == "outside_zone") & (pl.col("layer") == "station_areas"))
    assert set(out["item"]) == {"outside", "not_assigned"}


def test_skipped_entries_are_listed(sample):
    r = compliance_report(sample, agency="all", profile="nfpa1720")
    assert r.table.height == 0
    skipped = r.quality.filter(pl.col("section") == "skipped_metric")
    assert skipped["item"].to_list() == ["erf_assembly"]
    assert "pass density_layer" in skipped["detail"][0]
    z = compliance_report(sample, agency="all", profile="nfpa1720", density_layer="station_areas")
    assert set(z.table["density_class"]) == {"urban", "suburban", "rural", "remote"}
    remote = z.table.filter(pl.col("density_class") == "remote").row(0, named=True)
    assert remote["target_s"] is None and remote["target_note"] == "target_distance_dependent"


@pytest.mark.slow  # several reports; fast: test_standards.py::test_overrides_from_config_toml
def test_overrides_and_cfai_baselines(sample, tmp_path):
    cfg = tmp_path / "local.toml"
    cfg.write_text("[targets.call_processing]\ntarget_s = 90\n")
    r = compliance_report(sample, agency="all", profile="nfpa1710", overrides=cfg)
    row = r.table.filter(pl.col("standard") == "call_processing").row(0, named=True)
    assert row["target_s"] == 90.0
    assert "targets.call_processing: target_s = 90" in r.overrides
    assert "Local overrides: targets.call_processing: target_s = 90" in r.to_text(verbose=True)
    c = compliance_report(sample, agency="all", profile="cfai")
    tr = c.table.filter(pl.col("standard") == "total_response_fire").row(0, named=True)
    assert (tr["target_s"], tr["baseline_s"]) == (380.0, 500.0)
    assert "DEFAULT figures" in c.to_text(verbose=True)
    assert "holds default figures" in c.to_text()


def test_text_names_profile_method_and_timestamps(rep):
    text = rep.to_text(verbose=True)
    assert "profile nfpa1710" in text and "nearest-rank" in text
    assert "ceil(p/100 * n)" in text and "binomial" in text
    assert "turnout_ems: turnout (incident) dispatched_at -> enroute_at" in text
    assert "travel_als: travel (unit) enroute_at -> on_scene_at" in text
    assert "Data quality" in text and "rows rejected" in text


def test_csv_json_xlsx(rep, tmp_path):
    csv_text = rep.to_csv()
    back = pl.read_csv(csv_text.encode(), try_parse_dates=True)
    assert back.columns == rep.table.columns and back.height == rep.table.height
    rep.to_csv(tmp_path / "q.csv", which="quality")
    assert pl.read_csv(tmp_path / "q.csv").height == rep.quality.height
    with pytest.raises(MetricError, match="unknown report part 'x'; valid: table, quality"):
        rep.to_csv(which="x")
    rep.to_json(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["profile"] == "nfpa1710" and doc["percentile_method"] == "nearest-rank"
    assert len(doc["table"]) == rep.table.height and len(doc["quality"]) == rep.quality.height
    assert {m["standard"]: (m["start"], m["end"]) for m in doc["metrics"]}["call_processing"] == (
        "call_received_at",
        "dispatched_at",
    )
    # the sample city never assembles 15 staff: the p90 is +inf, written as null in JSON
    inf = rep.table["p_value_s"].is_infinite().fill_null(False).to_list()
    assert sum(inf) > 10
    for is_inf, r, t in zip(inf, doc["table"], rep.table.iter_rows(named=True), strict=True):
        assert r["p_value_s"] == (None if is_inf else t["p_value_s"])
    out = rep.to_xlsx(tmp_path / "r.xlsx")
    with zipfile.ZipFile(out) as z:
        wb = z.read("xl/workbook.xml").decode()
    for sheet in ("compliance", "quality", "metrics", "about"):
        assert f'name="{sheet}"' in wb


def test_report_errors(sample):
    with pytest.raises(MetricError, match="unknown layer 'x'; valid layers: neighborhoods"):
        compliance_report(sample, agency="all", layer="x")
    with pytest.raises(MetricError, match="unknown period 'fortnight'; valid periods: day"):
        compliance_report(sample, agency="all", period="fortnight")
    with pytest.raises(MetricError, match="unknown standards profile 'nope'"):
        compliance_report(sample, agency="all", profile="nope")
