"""Issue 11.3 / 11.8: ``dispatch profile-template`` suggests the ``"excel"`` time format for
columns of Excel serial day numbers (``45292.5``), in a CSV or as numeric cells of a workbook,
says how sure it is, and the suggested profile ingests them to the true times."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.cli import app
from dispatch_analytics.ingest.template.formats import excel_serial_guess

TZ = "America/Denver"
HEAD = [
    "Incident Number",
    "Unit ID",
    "Received Time",
    "Dispatch Time",
    "Enroute Time",
    "On Scene Time",
    "Call Type",
]


def _serial(t: dt.datetime) -> float:
    """Excel's day number of a local time (an independent computation: days since 1899-12-30)."""
    return (t - dt.datetime(1899, 12, 30)).total_seconds() / 86400


def _truth(n: int = 8) -> list[dict]:
    rows = []
    for i in range(n):
        t0 = dt.datetime(2024, 3, 9, 22, 0, 0) + dt.timedelta(hours=3 * i, seconds=17 * i)
        rows.append(
            {
                "id": f"24-{1000 + i}",
                "unit": f"E{i % 3 + 1}",
                "received_at": t0,
                "dispatched_at": t0 + dt.timedelta(seconds=45 + i),
                "enroute_at": t0 + dt.timedelta(seconds=110 + 2 * i),
                "on_scene_at": t0 + dt.timedelta(seconds=400 + 7 * i),
                "type": "Medical" if i % 2 else "Structure Fire",
            }
        )
    return rows


_STAGES = ("received_at", "dispatched_at", "enroute_at", "on_scene_at")


def _csv(path: Path, rows: list[dict]) -> Path:
    lines = [",".join(HEAD)]
    for r in rows:
        lines.append(
            ",".join([r["id"], r["unit"], *(repr(_serial(r[s])) for s in _STAGES), r["type"]])
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _xlsx(path: Path, rows: list[dict]) -> Path:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Calls")
    ws.write_row(0, 0, HEAD)
    for i, r in enumerate(rows, start=1):
        ws.write_string(i, 0, r["id"])
        ws.write_string(i, 1, r["unit"])
        for j, s in enumerate(_STAGES, start=2):
            ws.write_number(i, j, _serial(r[s]))  # plain numbers, no date format
        ws.write_string(i, 6, r["type"])
    wb.close()
    return path


def _template(path: Path, out: Path) -> str:
    res = CliRunner().invoke(app, ["profile-template", str(path), "--timezone", TZ, "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out.read_text()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_template_suggests_excel_and_ingests_the_true_times(tmp_path, kind):
    rows = _truth()
    src = (_csv if kind == "csv" else _xlsx)(tmp_path / f"calls.{kind}", rows)
    text = _template(src, tmp_path / "calls.toml")
    doc = tomllib.loads(text)
    assert doc["source"]["timestamp_format"] == "excel"
    assert doc["columns"]["call_received_at"] == "Received Time"
    assert doc["columns"]["on_scene_at"] == "On Scene Time"
    # the confidence, said on the format line and on each column
    fmt_line = next(ln for ln in text.splitlines() if ln.startswith("timestamp_format"))
    assert '"excel" = Excel serial day numbers' in fmt_line and "sure" in fmt_line
    rec = next(ln for ln in text.splitlines() if ln.startswith("call_received_at"))
    assert "sure: all 8 sampled values are Excel serial day numbers" in rec
    # ingest with the suggested profile: the true local times, to the second
    ingest(str(src), load_profile(str(tmp_path / "calls.toml")), data_dir=tmp_path / "store")
    con = Store(tmp_path / "store").connect(read_only=True)
    got = con.execute(
        "select incident_id, unit_id, call_received_local_at, "
        "timezone(timezone, dispatched_at)::timestamp, timezone(timezone, enroute_at)::timestamp, "
        "timezone(timezone, on_scene_at)::timestamp from responses order by incident_id"
    ).fetchall()
    want = [(r["id"], r["unit"], *(r[s] for s in _STAGES)) for r in rows]
    assert [tuple(g) for g in got] == want


def test_template_mixed_serial_and_text_columns(tmp_path):
    rows = _truth(6)
    lines = [",".join(HEAD)]
    for r in rows:
        lines.append(
            ",".join(
                [
                    r["id"],
                    r["unit"],
                    r["received_at"].strftime("%m/%d/%Y %H:%M:%S"),
                    *(repr(_serial(r[s])) for s in _STAGES[1:]),
                    r["type"],
                ]
            )
        )
    src = tmp_path / "mixed.csv"
    src.write_text("\n".join(lines) + "\n")
    doc = tomllib.loads(_template(src, tmp_path / "mixed.toml"))
    assert doc["source"]["timestamp_format"] == ["excel", "%m/%d/%Y %H:%M:%S"]
    ingest(str(src), load_profile(str(tmp_path / "mixed.toml")), data_dir=tmp_path / "store")
    con = Store(tmp_path / "store").connect(read_only=True)
    got = con.execute(
        "select call_received_local_at, timezone(timezone, on_scene_at)::timestamp "
        "from responses order by incident_id"
    ).fetchall()
    assert got == [(r["received_at"], r["on_scene_at"]) for r in rows]


@pytest.mark.parametrize(
    "values, expect",
    [
        (["45292.5", "45292.75", "45293.125"], "sure"),
        (["45292.5", "45292.75", "45293.125"] * 3 + ["abc"], "likely"),  # 9 of 10
        (["45292", "45293", "45294"], None),  # whole numbers: ids or dates without a time
        (["1001.5", "1002.5", "1003.5"], None),  # before 1970
        (["6012345.25", "6012346.5", "6012399.75"], None),  # state-plane feet
        (["45292.5", "x", "y"], None),  # mostly text
        ([], None),
    ],
)
def test_excel_serial_guess_edges(values, expect):
    got = excel_serial_guess(values)
    assert (got[1].split(":")[0] if got else None) == expect
    if got:
        assert got[0] == sum(1 for v in values if v.replace(".", "").isdigit())


def test_whole_number_ids_are_not_taken_for_times(tmp_path):
    src = tmp_path / "ids.csv"
    src.write_text(
        "Incident Number,Received Time\n45001,2024-01-01 10:00:00\n"
        "45002,2024-01-01 11:00:00\n45003,2024-01-01 12:00:00\n"
    )
    doc = tomllib.loads(_template(src, tmp_path / "ids.toml"))
    assert doc["columns"]["incident_id"] == "Incident Number"
    assert doc["source"]["timestamp_format"] == "%Y-%m-%d %H:%M:%S"
