"""`dispatch watch DIR`: a drop folder ingested file by file, each once, across restarts.

Expectations are counted here from the rows the tests write (plain Python over the CSV),
never taken from the watcher.
"""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SF_SLICE, UNIT_HEADER, unit_row, write_csv

from dispatch_analytics import Store, load_profile
from dispatch_analytics.cli import main
from dispatch_analytics.errors import FeedError
from dispatch_analytics.feeds import FolderWatch, feed_status, run
from dispatch_analytics.feeds.state import CycleReport, load_state, save_state
from dispatch_analytics.io.dropfolder import scan_folder


def rows(n: int, start: int = 0) -> list[list]:
    """n distinct unit rows (incidents start..start+n-1, one unit each)."""
    out = []
    for i in range(start, start + n):
        t = datetime(2024, 1, 15, 10, 0, 0) + timedelta(minutes=i)
        f = "%m/%d/%Y %H:%M:%S"
        out.append(
            unit_row(
                inc=f"E{i}",
                rcvd=t.strftime(f),
                disp=(t + timedelta(seconds=60)).strftime(f),
                enrt=(t + timedelta(seconds=120)).strftime(f),
                arrv=(t + timedelta(seconds=420)).strftime(f),
                clr=(t + timedelta(seconds=2400)).strftime(f),
            )
        )
    return out


def append(path: Path, more: list[list]) -> None:
    with open(path, "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(more)


def count(data: Path, sql: str) -> int:
    return int(Store(data).sql(sql).item())


def batches(data: Path) -> int:
    return count(data, "select count(*) from ingest_log where batch_id <> '_init'")


@pytest.fixture
def drop(tmp_path) -> Path:
    d = tmp_path / "drop"
    d.mkdir()
    return d


def watcher(drop, unit_toml, data_dir, **kw) -> FolderWatch:
    return FolderWatch.from_dir(drop, load_profile(unit_toml), data_dir, settle_s=0, **kw)


def test_a_file_written_in_two_steps_is_ingested_once_complete(drop, unit_toml, data_dir):
    w = watcher(drop, unit_toml, data_dir)
    f = drop / "calls.csv"
    write_csv(f, UNIT_HEADER, rows(3))
    rep = w.cycle()  # first look: not yet known to be complete
    assert (rep.seen, rep.waiting, rep.ingested) == (1, 1, 0)
    append(f, rows(2, start=3))  # the writer goes on
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    rep = w.cycle()  # changed since the last look: still waiting
    assert (rep.waiting, rep.ingested) == (1, 0)
    assert not (data_dir / "lake" / "batches").exists() or batches(data_dir) == 0
    rep = w.cycle()  # same size and mtime twice: complete
    assert (rep.waiting, rep.ingested, rep.rows_accepted, rep.rows_rejected) == (0, 1, 5, 0)
    rep = w.cycle()
    assert (rep.seen, rep.ingested, rep.waiting) == (1, 0, 0)
    assert count(data_dir, "select count(*) from responses") == 5
    assert batches(data_dir) == 1
    entry = load_state(w.state_file)["files"]["calls.csv"]
    assert entry["status"] == "ingested" and entry["size"] == f.stat().st_size
    assert len(entry["sha256"]) == 64 and entry["batch_id"]


def test_settle_gives_the_second_look_within_one_cycle(drop, unit_toml, data_dir):
    slept: list[float] = []
    w = FolderWatch(
        drop.resolve(), load_profile(unit_toml), Store(data_dir), settle_s=1.5, sleep=slept.append
    )
    write_csv(drop / "a.csv", UNIT_HEADER, rows(4))
    rep = w.cycle()
    assert slept == [1.5] and rep.ingested == 1 and rep.rows_accepted == 4


def test_restart_does_not_reingest(drop, unit_toml, data_dir):
    write_csv(drop / "a.csv", UNIT_HEADER, rows(4))
    write_csv(drop / "b.csv", UNIT_HEADER, rows(3, start=10))
    w = watcher(drop, unit_toml, data_dir)
    w.cycle()
    assert w.cycle().ingested == 2
    # a new process (a new watcher object over the same state)
    again = watcher(drop, unit_toml, data_dir)
    rep = again.cycle()
    assert (rep.seen, rep.ingested, rep.waiting, rep.rows_read) == (2, 0, 0, 0)
    # touched but unchanged content: recognised by its SHA-256, nothing ingested
    os.utime(drop / "a.csv", ns=(time.time_ns(), time.time_ns() + 5_000_000))
    again.cycle()
    rep = again.cycle()
    assert (rep.ingested, rep.unchanged) == (0, 1)
    assert batches(data_dir) == 2
    assert count(data_dir, "select count(*) from responses") == 7


def test_a_grown_file_adds_only_the_new_rows(drop, unit_toml, data_dir):
    f = write_csv(drop / "export.csv", UNIT_HEADER, rows(5))
    w = watcher(drop, unit_toml, data_dir)
    w.cycle()
    w.cycle()
    append(f, rows(3, start=5))
    w.cycle()
    rep = w.cycle()
    # the 5 old rows are recognised as already stored, the 3 new ones accepted
    assert (rep.ingested, rep.rows_read, rep.rows_accepted) == (1, 8, 3)
    assert (rep.rows_rejected, rep.duplicates) == (5, 5)
    assert count(data_dir, "select count(*) from responses") == 8
    assert count(data_dir, "select count(*) from responses_all") == 8
    assert "already stored" in rep.line()


def test_a_grown_file_whose_rows_progress_supersedes(drop, unit_toml, data_dir):
    """A CAD export rewritten as the call goes on: the newer record of a unit wins."""
    f = drop / "live.csv"
    open_row = rows(1)[0]
    open_row[7] = open_row[8] = ""  # not yet on scene
    write_csv(f, UNIT_HEADER, [open_row])
    w = watcher(drop, unit_toml, data_dir)
    w.cycle()
    w.cycle()
    assert Store(data_dir).sql("select on_scene_at from responses").item() is None
    append(f, rows(1))  # the same unit, now with every stage
    w.cycle()
    assert w.cycle().rows_accepted == 1
    got = Store(data_dir).sql("select on_scene_at, travel_s from responses")
    assert got.height == 1 and got["travel_s"][0] == 300


def test_a_bad_file_is_reported_and_skipped_until_it_changes(drop, unit_toml, data_dir):
    bad = drop / "bad.csv"
    bad.write_text("x,y\n1,2\n", encoding="utf-8")
    write_csv(drop / "good.csv", UNIT_HEADER, rows(2))
    w = watcher(drop, unit_toml, data_dir)
    w.cycle()
    rep = w.cycle()
    assert rep.ingested == 1 and len(rep.errors) == 1
    assert rep.errors[0].startswith("bad.csv:") and "Event #" in rep.errors[0]
    assert load_state(w.state_file)["files"]["bad.csv"]["status"] == "failed"
    assert load_state(w.state_file)["last_error"]
    rep = w.cycle()  # not retried every cycle
    assert rep.ok and rep.ingested == 0
    # fixed by the user: ingested once stable
    write_csv(bad, UNIT_HEADER, rows(1, start=50))
    w.cycle()
    rep = w.cycle()
    assert rep.ok and rep.ingested == 1
    assert count(data_dir, "select count(*) from responses") == 3


def test_hidden_partial_and_unmatched_files_are_ignored(drop, unit_toml, data_dir):
    write_csv(drop / ".hidden.csv", UNIT_HEADER, rows(1))
    write_csv(drop / "copying.csv.part", UNIT_HEADER, rows(1))
    write_csv(drop / "notes.txt", UNIT_HEADER, rows(1))
    (drop / "sub").mkdir()
    write_csv(drop / "x.csv", UNIT_HEADER, rows(1))
    assert [lk.path.name for lk in scan_folder(drop, "*.csv")] == ["x.csv"]
    w = watcher(drop, unit_toml, data_dir, pattern="*.csv")
    assert w.cycle().seen == 1


def test_the_real_sf_slice_in_two_files(drop, data_dir):
    """Real SFFD rows: split in two files, ingested as two batches, counts add up."""
    lines = SF_SLICE.read_text(encoding="utf-8").splitlines(keepends=True)
    (drop / "part1.csv").write_text("".join(lines[:150]), encoding="utf-8")
    (drop / "part2.csv").write_text(lines[0] + "".join(lines[150:]), encoding="utf-8")
    w = FolderWatch.from_dir(drop, load_profile("sffd"), data_dir, settle_s=0)
    w.cycle()
    rep = w.cycle()
    n = len(lines) - 1
    assert rep.ingested == 2 and rep.rows_read == n
    assert rep.rows_accepted + rep.rows_rejected == n
    assert count(data_dir, "select count(*) from responses_all") == rep.rows_accepted


def test_bad_arguments_are_clear_errors(tmp_path, unit_toml, data_dir):
    prof = load_profile(unit_toml)
    with pytest.raises(FeedError, match="drop folder .*nope does not exist.*create it"):
        FolderWatch.from_dir(tmp_path / "nope", prof, data_dir)
    with pytest.raises(FeedError, match="`agency` must be None.*`settle_s` must be >= 0"):
        FolderWatch.from_dir(tmp_path, prof, data_dir, settle_s=-1, agency="X")
    with pytest.raises(FeedError, match="drop folder .* does not exist"):
        scan_folder(tmp_path / "gone")
    broken = tmp_path / "state.json"
    broken.write_text("{not json")
    with pytest.raises(FeedError, match="not valid JSON.*delete it"):
        load_state(broken)


def test_run_loop_interval_once_and_failures(drop, unit_toml, data_dir):
    w = watcher(drop, unit_toml, data_dir)
    slept: list[float] = []
    reps = run(w, interval_s=10, max_cycles=3, sleep=slept.append)
    assert len(reps) == 3 and len(slept) == 2 and all(0 <= s <= 10 for s in slept)
    assert len(run(w, interval_s=10, once=True, sleep=slept.append)) == 1
    with pytest.raises(FeedError, match="`--interval-s` must be > 0"):
        run(w, interval_s=0)

    class Flaky:
        name, kind = "flaky", "folder"

        def __init__(self):
            self.n = 0
            self.failures: list[str] = []

        def cycle(self):
            self.n += 1
            if self.n == 2:
                raise FeedError("the folder went away")
            return CycleReport(feed="flaky", kind="folder")

        def record_failure(self, message):
            self.failures.append(message)

    f = Flaky()
    reps = run(f, interval_s=1, max_cycles=3, sleep=lambda s: None)
    assert [r.ok for r in reps] == [True, False, True] and f.failures == ["the folder went away"]
    f = Flaky()
    f.n = 1  # the first cycle fails: the watcher cannot start, it says so
    with pytest.raises(FeedError, match="went away"):
        run(f, interval_s=1, max_cycles=3, sleep=lambda s: None)


def test_state_is_written_atomically(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPATCH_FILE_MODE", raising=False)
    p = tmp_path / "state" / "watch_x.json"
    save_state(p, {"a": 1, "at": datetime(2024, 1, 1, tzinfo=UTC)})
    assert load_state(p) == {"a": 1, "at": "2024-01-01T00:00:00+00:00"}
    assert [x.name for x in p.parent.iterdir()] == ["watch_x.json"]  # no temp file left
    # the store's modes: the state names files of raw call rows
    assert (p.stat().st_mode & 0o777, p.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_feed_status_age_and_stale(drop, unit_toml, data_dir):
    st = feed_status(Store(data_dir))
    assert st["last_ingest_at"] is None and st["stale"] and st["batches"] == 0
    write_csv(drop / "a.csv", UNIT_HEADER, rows(2))
    w = watcher(drop, unit_toml, data_dir)
    w.cycle()
    w.cycle()
    log = Store(data_dir).ingest_log()
    finished = log.filter(log["batch_id"] != "_init")["finished_at"][0]
    st = feed_status(Store(data_dir), stale_after_s=60, now=finished + timedelta(seconds=59))
    assert (st["age_s"], st["stale"], st["batches"]) == (59.0, False, 1)
    assert st["last_rows_accepted"] == 2 and st["last_source"].endswith("a.csv")
    st = feed_status(Store(data_dir), stale_after_s=60, now=finished + timedelta(seconds=61))
    assert st["stale"]
    assert st["feeds"][0]["kind"] == "folder" and st["feeds"][0]["last_ok_at"]
    # per agency: the profile has no agency, so its rows carry the profile's name
    assert feed_status(Store(data_dir), agency="nobody")["batches"] == 0
    assert feed_status(Store(data_dir), agency="unit")["batches"] == 1
    with pytest.raises(FeedError, match="`stale_after_s` must be > 0.*`now` must be timezone"):
        feed_status(Store(data_dir), stale_after_s=0, now=datetime(2024, 1, 1))


def test_cli_watch_once_folder(drop, unit_toml, data_dir, capsys):
    write_csv(drop / "a.csv", UNIT_HEADER, rows(3))
    args = ["watch", str(drop), "--mapping", str(unit_toml), "--once", "--data-dir", str(data_dir)]
    assert main([*args, "--settle-s", "0"]) == 0  # first look only
    assert "waiting 1" in capsys.readouterr().out
    assert main([*args, "--settle-s", "0", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out.strip())
    assert (d["ingested"], d["rows_accepted"], d["ok"]) == (1, 3, True)
    (drop / "b.csv").write_text("nope\n1\n")
    assert main([*args, "--settle-s", "0.01", "--format", "csv"]) == 1  # a bad file: exit 1
    cap = capsys.readouterr()
    table = list(csv.DictReader(cap.out.splitlines()))
    assert len(table) == 1 and table[0]["kind"] == "folder" and "b.csv" in table[0]["errors"]
    assert "error: b.csv" in cap.err and "Traceback" not in cap.err
    assert main([*args, "--settle-s", "0"]) == 0  # skipped now, not retried
    capsys.readouterr()
    assert main(["feed-status", "--data-dir", str(data_dir), "--format", "json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["batches"] == 1 and st["stale"] is False
    code = main(
        ["feed-status", "--data-dir", str(data_dir), "--stale-after-s", "0.000001", "--check"]
    )
    assert code == 3
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["watch", "--mapping", "m.toml"], "exactly one"),
        (["watch", "d", "--database", "postgresql://x@h/db", "--mapping", "m.toml"], "exactly one"),
        (["watch", "d", "--cursor", "c", "--mapping", "m.toml"], "go with `--database`"),
        (["watch", "d", "--mapping", "m.toml", "--interval-s", "0"], "`--interval-s` must be > 0"),
        (["watch", "d"], "exactly one of `--profile NAME` or `--mapping"),
        (["watch", "d", "--profile", "sffd", "--format", "xml"], "`--format`"),
    ],
)
def test_cli_usage_errors_exit_2(argv, needle, capsys, tmp_path):
    (tmp_path / "d").mkdir()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(argv) == 2
    finally:
        os.chdir(old)
    assert needle in capsys.readouterr().err.replace("\n", " ").replace("  ", " ")


def test_cli_missing_folder_is_an_error_not_a_traceback(tmp_path, capsys):
    code = main(
        [
            "watch",
            str(tmp_path / "nope"),
            "--profile",
            "sffd",
            "--once",
            "--data-dir",
            str(tmp_path / "s"),
        ]
    )
    text = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "does not exist" in text and "Traceback" not in text


@pytest.mark.slow
def test_the_command_loops_and_stops_cleanly_on_sigterm_and_ctrl_c(drop, unit_toml, data_dir):
    write_csv(drop / "a.csv", UNIT_HEADER, rows(2))
    exe = [
        sys.executable,
        "-m",
        "dispatch_analytics",
        "watch",
        str(drop),
        "--mapping",
        str(unit_toml),
        "--interval-s",
        "0.5",
        "--settle-s",
        "0",
        "--data-dir",
        str(data_dir),
    ]
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # wait for the first cycle's log line: the loop is running
            ready, _, _ = select.select([proc.stdout], [], [], 120)
            assert ready, "no cycle logged within 120 s"
            first = proc.stdout.readline()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
            out = first + out
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "stopped after" in err and "Traceback" not in err
        assert "ingested" in out
    assert batches(data_dir) == 1


def test_database_url_checks_without_a_server(monkeypatch):
    from dispatch_analytics.io import database

    assert database.redact_url("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert database.redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(FeedError, match="must be a postgresql://.*ODBC"):
        database.connect_database("mysql://u:pw@h/db")
    with pytest.raises(FeedError, match=r"u:\*\*\*@h") as exc:
        database.connect_database("sqlserver://u:pw@h/db")
    assert "pw" not in str(exc.value).replace("postgresql", "")
    assert database.postgres_extension_path() is not None  # the dev extra installs the wheel
    monkeypatch.setattr(database, "postgres_extension_path", lambda: None)
    with pytest.raises(FeedError, match="pip install duckdb-extension-postgres=="):
        database.connect_database("postgresql://u@127.0.0.1:1/db")
