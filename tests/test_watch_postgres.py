"""`dispatch watch --database` against a real PostgreSQL server (started by tests/pg_server.py).

The CAD table holds unit rows with an ``updated_at`` stamp (the cursor); every expectation is
computed here from the rows the test wrote (plain Python), never from the watcher.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from conftest import write_toml
from pg_server import pg_server  # noqa: F401  (the fixture)

from dispatch_analytics import Store, load_profile
from dispatch_analytics.cli import main
from dispatch_analytics.errors import FeedError
from dispatch_analytics.feeds import DatabaseWatch, feed_status
from dispatch_analytics.feeds.pg_local import DEMO_CAD_COLUMNS, DEMO_CAD_MAPPING, DEMO_CAD_TABLE

BASE = datetime(2024, 3, 1, 8, 0, 0)
STAMP = datetime(2024, 3, 1, 12, 0, 0)


def _ts(t: datetime | None) -> str:
    return "null" if t is None else f"'{t:%Y-%m-%d %H:%M:%S}'"


def unit_sql(i: int, unit: str, updated: datetime, arrived: bool = True, extra_s: int = 0) -> str:
    """One row of cad_units: incident i, received BASE + i minutes, on scene 7 min later."""
    rec = BASE + timedelta(minutes=i)
    disp, enr = rec + timedelta(seconds=60), rec + timedelta(seconds=120)
    arr = rec + timedelta(seconds=420 + extra_s) if arrived else None
    clr = rec + timedelta(seconds=2400) if arrived else None
    return (
        f"('I{i}', '{unit}', 'Medical', '1', {_ts(rec)}, {_ts(disp)}, {_ts(enr)}, {_ts(arr)}, "
        f"{_ts(clr)}, 40.71, -74.0, {_ts(updated)})"
    )


def insert(pg, rows: list[str]) -> None:
    pg.psql(f"insert into cad_units ({DEMO_CAD_COLUMNS}) values " + ",\n".join(rows) + ";")


@pytest.fixture
def cad(pg_server, tmp_path):  # noqa: F811
    """A fresh cad_units table; yields (server, mapping path, query path)."""
    pg_server.psql("drop table if exists cad_units; " + DEMO_CAD_TABLE)
    mapping = write_toml(tmp_path / "cad.toml", DEMO_CAD_MAPPING)
    query = tmp_path / "units.sql"
    query.write_text("select * from cad_units\n", encoding="utf-8")
    return pg_server, mapping, query


def _watch(pg, mapping, query, data_dir) -> DatabaseWatch:
    return DatabaseWatch.from_url(
        pg.url, query.read_text(), "updated_at", load_profile(mapping), data_dir, name="units"
    )


def _count(data_dir, sql: str) -> int:
    return int(Store(data_dir).sql(sql).item())


def test_polls_past_the_cursor_with_ties_and_updates(cad, tmp_path):
    pg, mapping, query = cad
    data = tmp_path / "store"
    t0 = STAMP
    # five rows; two of them share the largest stamp (a tie at the cursor)
    insert(pg, [unit_sql(i, "M1", t0 + timedelta(seconds=i)) for i in range(3)])
    insert(pg, [unit_sql(i, "E1", t0 + timedelta(seconds=2)) for i in (10, 11)])
    w = _watch(pg, mapping, query, data)
    rep = w.cycle()
    assert (rep.seen, rep.rows_accepted, rep.rows_rejected, rep.ingested) == (5, 5, 0, 1)
    assert w.state["cursor"].startswith("2024-03-01 12:00:02")
    assert len(w.state["at_cursor"]) == 3  # I2/M1 and the two E1 rows share the stamp

    # more rows committed with the same stamp as the cursor, one later row, and an update of
    # an old row (I0's unit was still en route: it now arrives, the stamp moves on)
    insert(pg, [unit_sql(i, "E2", t0 + timedelta(seconds=2)) for i in (20, 21)])
    insert(pg, [unit_sql(30, "M3", t0 + timedelta(seconds=5))])
    pg.psql(
        "update cad_units set arrived = received + interval '500 seconds', "
        f"updated_at = {_ts(t0 + timedelta(seconds=9))} where incident_no = 'I1';"
    )
    rep = w.cycle()
    # exactly the 2 ties, the new row and the updated one: nothing lost, nothing twice
    assert (rep.seen, rep.rows_accepted, rep.rows_rejected) == (4, 4, 0)
    assert _count(data, "select count(*) from responses_all") == 9
    assert _count(data, "select count(*) from responses") == 8  # I1 has two records
    arrived = Store(data).sql("select on_scene_at from responses where incident_id = 'I1'").item()
    # received 08:01 New York = 13:01 UTC; the update put on scene at +500 s
    assert arrived == datetime(2024, 3, 1, 13, 1, 0, tzinfo=UTC) + timedelta(seconds=500)

    rep = w.cycle()  # nothing new
    assert (rep.seen, rep.ingested) == (0, 0)
    assert _count(data, "select count(*) from ingest_log where batch_id <> '_init'") == 2


def test_an_arrival_recorded_later_supersedes_the_open_record(cad, tmp_path):
    pg, mapping, query = cad
    data = tmp_path / "store"
    insert(pg, [unit_sql(1, "M1", STAMP, arrived=False)])
    w = _watch(pg, mapping, query, data)
    w.cycle()
    assert Store(data).sql("select on_scene_at from responses").item() is None
    pg.psql(
        "update cad_units set arrived = received + interval '430 seconds', "
        "cleared = received + interval '2000 seconds', "
        f"updated_at = {_ts(STAMP + timedelta(minutes=5))};"
    )
    assert w.cycle().rows_accepted == 1
    got = Store(data).sql("select travel_s, count(*) over () as n from responses").row(0)
    assert got == (430 - 120, 1)


def test_restart_and_a_crash_before_the_cursor_is_saved_ingest_nothing_twice(cad, tmp_path):
    pg, mapping, query = cad
    data = tmp_path / "store"
    insert(pg, [unit_sql(i, "M1", STAMP + timedelta(seconds=i)) for i in range(6)])
    w = _watch(pg, mapping, query, data)
    w.cycle()
    saved = w.state_file.read_text()
    insert(pg, [unit_sql(i, "E1", STAMP + timedelta(seconds=10 + i)) for i in range(4)])
    assert w.cycle().rows_accepted == 4
    w.close()

    # a restart: a new watcher reads the state and fetches nothing
    again = _watch(pg, mapping, query, data)
    assert again.cycle().seen == 0
    again.close()

    # a crash after the publish but before the cursor was saved: the old state comes back
    again.state_file.write_text(saved)
    crashed = _watch(pg, mapping, query, data)
    rep = crashed.cycle()
    assert rep.seen == 4 and rep.rows_accepted == 0  # refetched, but nothing stored twice
    assert rep.unchanged == 1  # the staged file has the same content: skipped as a whole
    crashed.close()
    assert _count(data, "select count(*) from responses_all") == 10
    assert _count(data, "select count(*) from ingest_log where batch_id <> '_init'") == 2
    status = feed_status(Store(data))
    assert status["batches"] == 2 and not status["stale"]
    assert status["feeds"][0]["kind"] == "database"


def test_cli_once_json_and_exit_codes(cad, tmp_path, capsys):
    pg, mapping, query = cad
    data = tmp_path / "store"
    insert(pg, [unit_sql(i, "M1", STAMP + timedelta(seconds=i)) for i in range(3)])
    args = ["watch", "--database", pg.url, "--query", str(query), "--cursor", "updated_at"]
    args += ["--mapping", str(mapping), "--once", "--data-dir", str(data)]
    assert main([*args, "--format", "json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["kind"], line["seen"], line["rows_accepted"], line["ok"]) == (
        "database",
        3,
        3,
        True,
    )
    assert main(args) == 0
    assert "seen 0 rows" in capsys.readouterr().out


def test_bad_query_unknown_cursor_and_unreachable_server_are_clear_errors(cad, tmp_path, capsys):
    pg, mapping, query = cad
    data = tmp_path / "store"
    prof = load_profile(mapping)
    bad = DatabaseWatch.from_url(pg.url, "select * from no_such_table", "updated_at", prof, data)
    with pytest.raises(FeedError, match="(?s)feed query failed.*no_such_table.*fix `--query`"):
        bad.cycle()
    nocol = DatabaseWatch.from_url(pg.url, "select * from cad_units", "stamp", prof, data)
    with pytest.raises(FeedError, match="`--cursor` 'stamp' is not a column.*updated_at"):
        nocol.cycle()
    two = DatabaseWatch.from_url(pg.url, "select 1; select 2", "x", prof, data)
    with pytest.raises(FeedError, match="more than one statement"):
        two.cycle()
    with pytest.raises(FeedError, match="`query` is empty.*`cursor` is empty"):
        DatabaseWatch.from_url(pg.url, " ", " ", prof, data)
    url = f"postgresql://postgres:s3cret@127.0.0.1:{_closed_port()}/postgres"
    down = DatabaseWatch.from_url(url, "select * from cad_units", "updated_at", prof, data)
    with pytest.raises(FeedError, match=r"cannot connect to the CAD database .*\*\*\*") as exc:
        down.cycle()
    assert "s3cret" not in str(exc.value)
    with pytest.raises(FeedError, match="must be a postgresql://"):
        DatabaseWatch.from_url("mysql://x@h/db", "select 1", "x", prof, data).cycle()

    # the CLI: a message, exit 1, never a traceback
    q = tmp_path / "bad.sql"
    q.write_text("select * from no_such_table")
    code = main(
        [
            "watch",
            "--database",
            url,
            "--query",
            str(query),
            "--cursor",
            "updated_at",
            "--mapping",
            str(mapping),
            "--once",
            "--data-dir",
            str(data),
        ]
    )
    text = capsys.readouterr().err
    assert code == 1 and "cannot connect" in text and "Traceback" not in text
    assert "s3cret" not in text
    code = main(
        [
            "watch",
            "--database",
            pg.url,
            "--query",
            str(q),
            "--cursor",
            "updated_at",
            "--mapping",
            str(mapping),
            "--once",
            "--data-dir",
            str(data),
        ]
    )
    text = capsys.readouterr().err
    assert code == 1 and "no_such_table" in text and "Traceback" not in text
    # usage: --database without --query / --cursor
    assert main(["watch", "--database", pg.url, "--mapping", str(mapping)]) == 2
    # the failed poll is recorded for the dashboard
    st = feed_status(Store(data))
    assert any(f["last_error"] for f in st["feeds"])


def test_a_profile_that_does_not_fit_the_query_keeps_the_cursor(cad, tmp_path):
    pg, mapping, query = cad
    data = tmp_path / "store"
    insert(pg, [unit_sql(1, "M1", STAMP)])
    prof = load_profile(mapping)
    w = DatabaseWatch.from_url(
        pg.url, "select incident_no, updated_at from cad_units", "updated_at", prof, data
    )
    rep = w.cycle()
    assert not rep.ok and "ingesting the fetched rows failed" in rep.errors[0]
    assert w.state["cursor"] is None  # nothing published: the rows are fetched again
    assert not list((data / "state" / "staging").glob("*.parquet"))


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fixture_server_is_real(pg_server):  # noqa: F811
    assert pg_server.psql("select 41 + 1;").strip() == "42"
    assert shutil.which("psql") or (pg_server.bin_dir / "psql").exists()
