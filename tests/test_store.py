"""Store consistency: re-ingest, supersede, dry run, lock, kill -9, concurrent readers."""

import os
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import UNIT_HEADER, big_unit_csv, unit_row, write_csv

from dispatch_analytics import Store, StoreError, ingest, load_profile

PY = sys.executable


def test_reingest_same_file_adds_nothing(tmp_path, data_dir, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(), unit_row(inc="")])
    first = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    store = Store(data_dir)
    before = store.sql(
        "select (select count(*) from responses_all), (select count(*) from rejects), (select count(*) from ingest_log)"
    ).row(0)
    copy = tmp_path / "copy_of_x.csv"
    copy.write_bytes(path.read_bytes())
    again = ingest([path, copy], load_profile(unit_toml), data_dir=data_dir)
    assert [f.skipped_as for f in again.files] == [first.files[0].batch_id] * 2
    assert again.rows_read == 0
    after = store.sql(
        "select (select count(*) from responses_all), (select count(*) from rejects), (select count(*) from ingest_log)"
    ).row(0)
    assert before == after == (1, 1, 1)


def test_newer_record_supersedes_older(tmp_path, data_dir, unit_toml):
    # the first export has the call before arrival; the next export has the grown record
    early = unit_row(inc="A", arrv="", clr="")
    grown = unit_row(inc="A")
    other = unit_row(inc="B")
    p1 = write_csv(tmp_path / "d1.csv", UNIT_HEADER, [early, other])
    p2 = write_csv(tmp_path / "d2.csv", UNIT_HEADER, [grown, other])
    ingest(p1, load_profile(unit_toml), data_dir=data_dir)
    store = Store(data_dir)
    assert store.sql("select on_scene_at from responses where incident_id='A'").item() is None
    ingest(p2, load_profile(unit_toml), data_dir=data_dir)
    r = store.sql("select * from responses where incident_id='A'")
    assert r.height == 1 and r["on_scene_at"][0] is not None
    assert r["source"][0].endswith("d2.csv")
    assert store.sql("select count(*) from responses_all").item() == 3
    assert store.sql("select count(*) from incidents").item() == 2
    # a back-filled older snapshot does not undo the newer record
    p0 = write_csv(tmp_path / "d0.csv", UNIT_HEADER, [unit_row(inc="A", enrt="", arrv="", clr="")])
    ingest(p0, load_profile(unit_toml), data_dir=data_dir)
    assert store.sql("select on_scene_at is not null from responses where incident_id='A'").item()


def test_correction_in_a_later_batch_wins(tmp_path, data_dir, unit_toml):
    p1 = write_csv(tmp_path / "a.csv", UNIT_HEADER, [unit_row(inc="A", arrv="01/15/2024 10:09:00")])
    p2 = write_csv(tmp_path / "b.csv", UNIT_HEADER, [unit_row(inc="A", arrv="01/15/2024 10:08:00")])
    ingest(p1, load_profile(unit_toml), data_dir=data_dir)
    ingest(p2, load_profile(unit_toml), data_dir=data_dir)
    # same number of stages: the latest last stage (cleared, unchanged) ties -> later batch
    assert Store(data_dir).sql("select travel_s from responses").item() == 360


def test_dry_run_writes_nothing(tmp_path, data_dir, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(), unit_row(inc="")])
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir, dry_run=True)
    assert report.dry_run and (report.rows_accepted, report.rows_rejected) == (1, 1)
    assert not data_dir.exists()
    ingest(path, load_profile(unit_toml), data_dir=data_dir)
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir, dry_run=True)
    assert report.files[0].skipped


def test_lock_refuses_second_writer(tmp_path, data_dir, unit_toml):
    store = Store(data_dir)
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row()])
    with store.write_lock():
        with pytest.raises(StoreError, match="another process is writing"):
            ingest(path, load_profile(unit_toml), data_dir=data_dir)


def test_chunks_give_same_result(tmp_path, unit_toml):
    path = big_unit_csv(tmp_path / "big.csv", 3000)
    a = ingest(path, load_profile(unit_toml), data_dir=tmp_path / "a", chunk_rows=250)
    b = ingest(path, load_profile(unit_toml), data_dir=tmp_path / "b")
    assert (a.rows_accepted, a.rows_rejected) == (b.rows_accepted, b.rows_rejected)
    q = "select * exclude (batch_id) from responses order by incident_id, unit_id"
    assert Store(tmp_path / "a").sql(q).equals(Store(tmp_path / "b").sql(q))


def _ingest_proc(path, toml, data_dir, chunk_rows):
    code = (
        "import sys; from dispatch_analytics.cli import main; "
        f"sys.exit(main(['ingest', {str(path)!r}, '--mapping', {str(toml)!r}, "
        f"'--data-dir', {str(data_dir)!r}, '--chunk-rows', '{chunk_rows}']))"
    )
    return subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_staged_chunk(data_dir, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        tmp = data_dir / "lake" / "_tmp"
        if tmp.exists() and any(tmp.rglob("responses-*.parquet")):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


@pytest.mark.slow
def test_sigkill_mid_batch_leaves_store_consistent(tmp_path, data_dir, unit_toml):
    path = big_unit_csv(tmp_path / "big.csv", 60_000)
    ingest(
        write_csv(tmp_path / "first.csv", UNIT_HEADER, [unit_row(inc="keep")]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    proc = _ingest_proc(path, unit_toml, data_dir, 2000)
    assert _wait_for_staged_chunk(data_dir, proc), proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(data_dir)
    # nothing of the killed batch is visible; the earlier batch is intact
    assert store.sql("select count(*) from ingest_log").item() == 1
    assert store.sql("select count(*) from responses_all").item() == 1
    assert store.sql("select count(*) from rejects").item() == 0
    # the re-run completes it, and clears the debris
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_read == 60_000 == report.rows_accepted + report.rows_rejected
    assert store.sql("select count(*) from responses_all").item() == 1 + report.rows_accepted
    assert store.sql("select count(*) from ingest_log").item() == 2
    assert not any((data_dir / "lake" / "_tmp").iterdir())


@pytest.mark.slow
def test_readers_in_other_processes_during_ingest(tmp_path, data_dir, unit_toml):
    ingest(
        write_csv(tmp_path / "first.csv", UNIT_HEADER, [unit_row(inc="keep")]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    path = big_unit_csv(tmp_path / "big.csv", 60_000)
    proc = _ingest_proc(path, unit_toml, data_dir, 2000)
    assert _wait_for_staged_chunk(data_dir, proc), proc.communicate()
    catalog = data_dir / "catalog.duckdb"
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(c.execute('select count(*) from incidents').fetchall()[0][0])"
    )
    reader = subprocess.run(
        [PY, "-c", code, str(catalog)], capture_output=True, text=True, timeout=60
    )
    assert reader.returncode == 0, reader.stderr
    assert int(reader.stdout.strip()) >= 1
    # and one in this process, too
    con = duckdb.connect(str(catalog), read_only=True)
    assert con.execute("select count(*) from responses").fetchall()[0][0] >= 1
    con.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert Store(data_dir).sql("select count(*) from ingest_log").item() == 2


def test_catalog_is_rebuilt_when_the_data_dir_moves(tmp_path, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row()])
    ingest(path, load_profile(unit_toml), data_dir=tmp_path / "old")
    os.rename(tmp_path / "old", tmp_path / "new")
    assert Store(tmp_path / "new").sql("select count(*) from responses").item() == 1


def test_open_missing_store():
    with pytest.raises(StoreError, match="no store in"):
        Store("/nonexistent/place", create=False)


def test_env_var_sets_data_dir(tmp_path, monkeypatch):
    from dispatch_analytics.store import resolve_data_dir

    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def _same(store, a="incidents", b="incidents_live"):
    q = "select * from {} order by incident_id"
    return store.sql(q.format(a)).equals(store.sql(q.format(b)))


def test_derived_incidents_equal_live_computation(tmp_path, data_dir, unit_toml):
    p1 = write_csv(
        tmp_path / "a.csv", UNIT_HEADER, [unit_row(inc="A", arrv="", clr=""), unit_row(inc="B")]
    )
    ingest(p1, load_profile(unit_toml), data_dir=data_dir)
    store = Store(data_dir)
    assert store.sql("select count(*) from _fresh_incidents").item() == 0  # all in derived
    assert store.sql("select count(*) from _derived_incidents").item() == 2
    assert _same(store)


def test_incidents_view_is_current_when_derived_is_stale(
    tmp_path, data_dir, unit_toml, monkeypatch
):
    """A batch published but not folded into the derived table (a crash in between, or a
    reader racing the writer) is computed live: the view never lags."""
    ingest(
        write_csv(
            tmp_path / "a.csv", UNIT_HEADER, [unit_row(inc="A", arrv="", clr=""), unit_row(inc="B")]
        ),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    monkeypatch.setattr(Store, "refresh_derived", lambda self, **kw: None)
    # the grown record of A and a new incident C arrive
    ingest(
        write_csv(tmp_path / "b.csv", UNIT_HEADER, [unit_row(inc="A"), unit_row(inc="C")]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    store = Store(data_dir)
    assert sorted(store.sql("select incident_id from _fresh_incidents")["incident_id"]) == [
        "A",
        "C",
    ]
    inc = store.sql("select incident_id, first_on_scene_at from incidents order by 1")
    assert inc["incident_id"].to_list() == ["A", "B", "C"]
    assert inc["first_on_scene_at"][0] is not None  # A's newer record, not the derived one
    assert _same(store)
    monkeypatch.undo()
    with store.write_lock():
        store.refresh_derived()
    assert store.sql("select count(*) from _fresh_incidents").item() == 0
    assert _same(store)


def test_copied_store_keeps_working(tmp_path, data_dir, unit_toml):
    ingest(
        write_csv(tmp_path / "a.csv", UNIT_HEADER, [unit_row(inc="A")]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)  # symlinks become folders
    ingest(
        write_csv(tmp_path / "b.csv", UNIT_HEADER, [unit_row(inc="B")]),
        load_profile(unit_toml),
        data_dir=copy,
    )
    store = Store(copy)
    assert store.sql("select count(*) from incidents").item() == 2
    assert _same(store)
