"""Batches you can manage: `dispatch batches list / remove`, `dispatch ingest --replace`, and
dedupe by file hash that takes the profile into account."""

from __future__ import annotations

import glob

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.api import remove_batches
from dispatch_analytics.cli import app as cli_app
from dispatch_analytics.errors import IngestError, StoreError
from dispatch_analytics.sample.city import generate_city
from dispatch_analytics.store.batches import profile_digest
from dispatch_analytics.store.removal import publish_removal

runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("batches")
    c = generate_city(root / "city", n_incidents=200, seed=8)
    lines = c.incidents_csv.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    ids = sorted({r.split(",")[0] for r in rows})
    first = set(ids[: len(ids) // 2])
    a, b = root / "a.csv", root / "b.csv"
    a.write_text("\n".join([header, *[r for r in rows if r.split(",")[0] in first]]) + "\n")
    b.write_text("\n".join([header, *[r for r in rows if r.split(",")[0] not in first]]) + "\n")
    good = c.mapping_toml
    bad = root / "bad.toml"
    text = good.read_text()
    bad.write_text(text.replace('priority = "PRI"', 'priority = "NATURE"'))
    assert bad.read_text() != text
    return c, a, b, good, bad


def _counts(store):
    st = Store(store)
    return st.sql(
        "select (select count(*) from ingest_log) as batches, "
        "(select count(*) from responses_all) as rows, "
        "(select count(*) from incidents) as incidents, "
        "(select count(*) from incidents_live) as incidents_live, "
        "(select count(*) from rejects) as rejects"
    ).row(0, named=True)


def _accepted_by_pandas(store) -> pd.DataFrame:
    """The stored unit rows, read straight from the live batches' Parquet files."""
    st = Store(store)
    live = st.live_batches()
    files = [f for f in glob.glob(f"{store}/lake/batches/*/responses-*.parquet")]
    files = [f for f in files if f.split("/")[-2] in live]
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


def _zone_incidents(store) -> set:
    return set(Store(store).sql("select distinct incident_id from incident_zones")["incident_id"])


def test_profile_digest_ignores_path_and_description(city):
    c, *_rest, good, bad = city
    p = load_profile(good)
    assert profile_digest(p) == profile_digest(load_profile(good))
    assert profile_digest(p) != profile_digest(load_profile(bad))
    import dataclasses

    assert profile_digest(dataclasses.replace(p, path="/else", description="x")) == profile_digest(
        p
    )


@pytest.mark.slow  # a replace re-ingest and zone reassignment; fast: test_replace_via_the_cli
def test_replace_a_file_ingested_with_a_wrong_mapping(city, tmp_path):
    c, a, _b, good, bad = city
    store = tmp_path / "store"
    wrong = ingest(a, load_profile(bad), data_dir=store)
    assert wrong.rows_accepted > 0
    from dispatch_analytics.spatial.zones import load_zones

    load_zones(store, c.station_areas_geojson, "station_areas", "station_id")
    # the same file and profile: skipped
    again = ingest(a, load_profile(bad), data_dir=store)
    assert again.files[0].skipped_as == wrong.files[0].batch_id
    # another profile: refused, naming the earlier profile and how to replace
    with pytest.raises(IngestError, match=r"ingested before as batch .* --replace"):
        ingest(a, load_profile(good), data_dir=store)
    fixed = ingest(a, load_profile(good), data_dir=store, replace=True)
    assert not fixed.files[0].skipped
    # the replacing batch's rows are not duplicates of the replaced one's
    fresh = ingest(a, load_profile(good), data_dir=tmp_path / "fresh")
    assert fixed.rows_rejected == fresh.rows_rejected
    assert fixed.rows_accepted == fresh.rows_accepted
    log = Store(store).ingest_log()
    assert log["batch_id"].to_list() == [fixed.files[0].batch_id]
    assert log["profile_sha256"][0] == profile_digest(load_profile(good))
    # the old folder is gone; the priorities are the file's PRI column
    assert not (store / "lake" / "batches" / wrong.files[0].batch_id).exists()
    src = pd.read_csv(a, dtype=str)
    got = Store(store).sql("select priority, count(*) as n from responses group by 1")
    pri = {r["priority"]: r["n"] for r in got.iter_rows(named=True)}
    acc = _accepted_by_pandas(store)
    assert pri == acc.groupby("priority").size().to_dict()
    assert set(pri) <= set(src["PRI"].dropna())
    n = _counts(store)
    assert n["incidents"] == n["incidents_live"] == acc["incident_id"].nunique()
    assert _zone_incidents(store) <= set(acc["incident_id"])
    # the same file with the same (good) profile is skipped now
    assert ingest(a, load_profile(good), data_dir=store).files[0].skipped


def test_replace_via_the_cli(city, tmp_path):
    _c, a, _b, good, bad = city
    store = str(tmp_path / "store")
    assert (
        runner.invoke(cli_app, ["ingest", str(a), "-m", str(bad), "--data-dir", store]).exit_code
        == 0
    )
    res = runner.invoke(cli_app, ["ingest", str(a), "-m", str(good), "--data-dir", store])
    assert res.exit_code == 1 and "--replace" in str(res.exception)
    assert "sample_city" in str(res.exception)
    res = runner.invoke(
        cli_app, ["ingest", str(a), "-m", str(good), "--replace", "--data-dir", store]
    )
    assert res.exit_code == 0, res.output
    listed = runner.invoke(cli_app, ["batches", "list", "-f", "json", "--data-dir", store])
    import json

    rows = json.loads(listed.output)
    assert len(rows) == 1 and rows[0]["profile_sha256"] == profile_digest(load_profile(good))


@pytest.mark.slow  # ingests and a removal through the CLI; fast: test_batches_cli_list_and_remove
def test_batches_remove_counts_derived_and_zones_follow(city, tmp_path):
    c, a, b, good, _bad = city
    store = tmp_path / "store"
    ra = ingest(a, load_profile(good), data_dir=store)
    rb = ingest(b, load_profile(good), data_dir=store)
    from dispatch_analytics.spatial.zones import load_zones

    load_zones(store, c.station_areas_geojson, "station_areas", "station_id")
    before = _counts(store)
    assert before["batches"] == 2
    rep = remove_batches([ra.files[0].batch_id], data_dir=store)
    assert rep.rows_accepted == ra.rows_accepted and rep.incidents == ra.files[0].incidents
    after = _counts(store)
    acc = _accepted_by_pandas(store)
    assert after["batches"] == 1
    assert after["rows"] == len(acc) == rb.rows_accepted
    assert after["rejects"] == rb.rows_rejected
    assert after["incidents"] == after["incidents_live"] == acc["incident_id"].nunique()
    assert _zone_incidents(store) == set(acc["incident_id"])  # assignment followed
    cov = pl.read_parquet(store / "lake" / "derived" / "current" / "coverage.parquet")
    assert ra.files[0].batch_id not in cov["batch_id"].to_list()
    # errors name every bad id
    with pytest.raises(StoreError, match=r"`nope` is not a batch.*dispatch batches list"):
        remove_batches(["nope"], data_dir=store)
    with pytest.raises(StoreError, match="removed already"):
        remove_batches([ra.files[0].batch_id], data_dir=store)
    with pytest.raises(StoreError, match="at least one"):
        remove_batches([], data_dir=store)
    # the removed file can be ingested again: its rows are not duplicates
    back = ingest(a, load_profile(good), data_dir=store)
    assert back.rows_accepted == ra.rows_accepted and back.rows_rejected == ra.rows_rejected
    assert _counts(store)["incidents"] == before["incidents"]


@pytest.mark.slow  # ingests and a removal; fast: test_batches_cli_list_and_remove
def test_removal_is_visible_before_the_derived_table_is_refreshed(city, tmp_path):
    """A writer killed after the removal's rename: the views are already right."""
    _c, a, b, good, bad = city
    store = tmp_path / "store"
    ingest(a, load_profile(bad), data_dir=store)
    rb = ingest(b, load_profile(good), data_dir=store)
    # replace a's batch without refreshing the derived table, then remove the replacement
    # (its removal record must carry the first removal along)
    ra2 = ingest(a, load_profile(good), data_dir=store, replace=True, refresh_derived=False)
    st = Store(store)
    with st.write_lock():
        publish_removal(st, [ra2.files[0].batch_id])
    n = _counts(store)
    assert n["incidents"] == n["incidents_live"] == rb.files[0].incidents
    live = st.sql("select * from incidents_live order by agency, incident_id")
    view = st.sql("select * from incidents order by agency, incident_id")
    assert view.select(live.columns).equals(live)


def test_batches_cli_list_and_remove(city, tmp_path):
    _c, a, _b, good, _bad = city
    store = str(tmp_path / "store")
    ra = ingest(a, load_profile(good), data_dir=store)
    bid = ra.files[0].batch_id
    table = runner.invoke(cli_app, ["batches", "list", "--data-dir", store])
    assert table.exit_code == 0 and bid[:20] in table.output
    csv = runner.invoke(cli_app, ["batches", "list", "-f", "csv", "--data-dir", store])
    assert csv.output.splitlines()[0].startswith("batch_id,source,profile,profile_sha256")
    assert (
        runner.invoke(cli_app, ["batches", "list", "-f", "xml", "--data-dir", store]).exit_code == 2
    )
    ask = runner.invoke(cli_app, ["batches", "remove", bid, "--data-dir", store], input="n\n")
    assert ask.exit_code in (1, 2)
    assert Store(store).ingest_log().height == 1
    bad = runner.invoke(cli_app, ["batches", "remove", "nope", "--yes", "--data-dir", store])
    assert bad.exit_code == 1 and "`nope`" in str(bad.exception)
    ok = runner.invoke(cli_app, ["batches", "remove", bid, "--yes", "--data-dir", store])
    assert ok.exit_code == 0, ok.output
    assert "removed 1 batch" in ok.output
    assert Store(store).ingest_log().height == 0
    for cmd in (
        ["batches", "--help"],
        ["batches", "list", "--help"],
        ["batches", "remove", "--help"],
    ):
        h = runner.invoke(cli_app, cmd)
        assert h.exit_code == 0 and "Example" in h.output
