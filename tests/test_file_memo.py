"""store/file_memo: a check runs once per version of a file in a process, and opening a store
still notices every change another process (or a hand) makes to the files it checks."""

from __future__ import annotations

import os

import duckdb
import polars as pl
from conftest import UNIT_HEADER, unit_row, write_csv

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.store import file_memo


def _counting(result: bool = True):
    calls: list[str] = []

    def check(path) -> bool:
        calls.append(path.name)
        return result

    return check, calls


def test_a_check_runs_once_per_version_of_the_file(tmp_path):
    f = tmp_path / "a.parquet"
    f.write_bytes(b"one")
    check, calls = _counting()
    assert file_memo.checked(f, "x", check) and file_memo.checked(f, "x", check)
    assert calls == ["a.parquet"]
    assert file_memo.checked(f, "another expectation", check)  # its own check
    assert len(calls) == 2
    # a new file renamed over it (how every writer of the store publishes): checked again
    new = tmp_path / "a.tmp"
    new.write_bytes(b"two")
    os.replace(new, f)
    assert file_memo.checked(f, "x", check) and len(calls) == 3


def test_a_failed_check_and_a_missing_file_are_never_remembered(tmp_path):
    f = tmp_path / "b.parquet"
    f.write_bytes(b"x")
    check, calls = _counting(result=False)
    assert not file_memo.checked(f, "x", check) and not file_memo.checked(f, "x", check)
    assert len(calls) == 2
    ok, ok_calls = _counting()
    missing = tmp_path / "missing.parquet"
    assert file_memo.checked(missing, "x", ok) and file_memo.checked(missing, "x", ok)
    assert len(ok_calls) == 2  # nothing to remember the identity of


def test_the_memo_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(file_memo, "_MAX_ENTRIES", 3)
    monkeypatch.setattr(file_memo, "_MEMO", {})
    check, _ = _counting()
    for i in range(7):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"x")
        file_memo.checked(p, "x", check)
    assert 1 <= len(file_memo._MEMO) <= 3


def _store(tmp_path, unit_toml):
    root = tmp_path / "store"
    ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row()]),
        load_profile(unit_toml),
        data_dir=root,
    )
    return Store(root)


def test_a_view_dropped_by_hand_is_rebuilt_on_the_next_open(tmp_path, unit_toml):
    st = _store(tmp_path, unit_toml)
    Store(st.root)  # checked and remembered
    con = duckdb.connect(str(st.catalog_path))
    con.execute("drop view incident_zones")
    con.close()
    Store(st.root)  # the file changed (size, time): checked again, and rebuilt
    names = Store(st.root).sql("select view_name from duckdb_views()")["view_name"].to_list()
    assert "incident_zones" in names


def test_a_catalog_swapped_by_another_process_is_checked_again(tmp_path, unit_toml):
    st = _store(tmp_path, unit_toml)
    Store(st.root)
    # another version of the package wrote the catalog: other views, another digest
    tmp = st.root / "other.duckdb"
    con = duckdb.connect(str(tmp))
    con.execute(
        "create view _catalog_meta as select '0' as schema_version, '' as data_dir, '' as sql_digest"
    )
    con.close()
    os.replace(tmp, st.catalog_path)
    assert Store(st.root).sql("select count(*) from incidents").item() == 1


def test_a_damaged_schema_file_is_rewritten(tmp_path, unit_toml):
    st = _store(tmp_path, unit_toml)
    Store(st.root)
    path = st.schema_file("responses")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"not parquet")
    os.replace(tmp, path)
    Store(st.root)
    assert "row_hash" in pl.read_parquet_schema(path)
    assert Store(st.root).sql("select count(*) from responses_all").item() == 1
