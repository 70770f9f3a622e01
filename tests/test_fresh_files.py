"""The ``incidents`` view's fresh part lists the files not covered by the derived table from
the file listing alone (``store.catalog_sql.fresh_files_sql``), and stays exactly ``incidents_live``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
from compact_helpers import batch_name, write_batch, write_batches

from dispatch_analytics import Store
from dispatch_analytics.store.compact import compact

INC = "select * from {} order by agency, incident_id"


def _fresh(store: Store) -> list[str]:
    """The folder/name of each file ``_fresh_files`` lists."""
    files = store.sql("select file from _fresh_files")["file"].to_list()
    return sorted(f"{Path(f).parent.name}/{Path(f).name}" for f in files)


def _same_as_live(store: Store) -> None:
    assert store.sql(INC.format("incidents")).equals(store.sql(INC.format("incidents_live")))


def test_batches_not_yet_folded_in_are_fresh_and_only_they(tmp_path):
    store = write_batches(tmp_path / "s", 3, 40, seed=1)  # published, no derived refresh
    assert _fresh(store) == [f"{batch_name(i)}/responses-00000.parquet" for i in range(3)]
    assert store.sql("select count(*) from _fresh_incidents").item() > 0
    _same_as_live(store)
    with store.write_lock():
        store.refresh_derived()
    assert _fresh(store) == []  # the _init folder's zero-row files never count
    assert store.sql("select count(*) from _fresh_incidents").item() == 0
    _same_as_live(store)
    write_batch(store, batch_name(3), 40, random.Random(2))
    assert _fresh(store) == [f"{batch_name(3)}/responses-00000.parquet"]
    _same_as_live(store)


def test_a_compaction_runs_files_are_fresh_by_their_manifest(tmp_path):
    store = write_batches(tmp_path / "s", 4, 40, seed=3)
    with store.write_lock():
        store.refresh_derived()
        compact(store, grace_s=0)
    store = Store(tmp_path / "s")
    assert _fresh(store) == []  # every file of the run holds covered batches only
    (run,) = [d for d in store.batches_dir.iterdir() if "-compact-" in d.name]
    manifest = pl.read_parquet(run / "manifest.parquet")
    held = manifest.filter(pl.col("file").str.starts_with("responses-"))
    name, batch = held.row(0)
    # the derived table no longer covering one batch: the files holding it are fresh
    coverage = store.derived_current / "coverage.parquet"
    covered = pl.read_parquet(coverage)
    covered.filter(pl.col("batch_id") != batch).write_parquet(coverage)
    holding = sorted(held.filter(pl.col("batch_id") == batch)["file"].unique())
    assert _fresh(store) == [f"{run.name}/{f}" for f in holding]
    _same_as_live(store)
    covered.write_parquet(coverage)
    assert _fresh(store) == []
    # a file its manifest does not list counts as not covered
    manifest.filter(pl.col("file") != name).write_parquet(run / "manifest.parquet")
    assert _fresh(store) == [f"{run.name}/{name}"]
    _same_as_live(store)


def _joins(node: dict) -> list[tuple[str, list[str]]]:
    """(join type, conditions) of every hash join of a JSON plan."""
    found = []
    if node.get("name") == "HASH_JOIN":
        info = node["extra_info"]
        conds = info.get("Conditions", [])
        found.append((info.get("Join Type"), conds if isinstance(conds, list) else [conds]))
    for child in node.get("children", []):
        found += _joins(child)
    return found


def test_the_unit_rows_are_the_probe_side_of_the_fresh_join(tmp_path):
    """DuckDB builds the fresh join's hash table on the (few) fresh keys and probes the unit
    rows, so that no fresh key stops the scan early; built on the unit rows (``RIGHT_SEMI``)
    it is a full scan of every column (160 ms of every query over ``incidents`` at 1M
    incidents)."""
    store = write_batches(tmp_path / "s", 5, 40, seed=5)
    with store.write_lock():
        store.refresh_derived()
    con = store.connect()
    for query in (
        "select count(*) from incidents",
        "select quantile_disc(total_response_s, 0.9) from incidents",
    ):
        (row,) = con.execute(f"explain (format json) {query}").fetchall()
        joins = [j for node in json.loads(row[1]) for j in _joins(node)]
        on_keys = [t for t, conds in joins if "incident_id = incident_id" in conds]
        assert "SEMI" in on_keys and "RIGHT_SEMI" not in on_keys, (query, on_keys)
