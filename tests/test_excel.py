"""Excel exports (issue 11.3): .xlsx written here with xlsxwriter, a committed legacy .xls
(tests/data/excel/make_xls.py says how it was made); sheets, date cells, serial numbers, text
times; profile-template on a workbook."""

from __future__ import annotations

import datetime as dt
import importlib.util
import tomllib
from pathlib import Path

import pytest
from conftest import DATA, write_toml

from dispatch_analytics import IngestError, Store, ingest, load_profile
from dispatch_analytics.ingest.template import profile_template

XLS = DATA / "excel" / "calls_stateplane.xls"
_spec = importlib.util.spec_from_file_location("make_xls", DATA / "excel" / "make_xls.py")

XLSX_TOML = """
[source]
grain = "unit"
timezone = "America/Denver"
timestamp_format = "%m/%d/%Y %H:%M:%S"
sheet = "Calls"

[columns]
incident_id = "Call"
unit_id = "Unit"
call_received_at = "Received"
dispatched_at = "Dispatched"
enroute_at = "Enroute"
on_scene_at = "OnScene"
latitude = "Lat"
longitude = "Lon"

[formats]
enroute_at = "excel"
"""


def _serial(t: dt.datetime) -> float:
    return (t - dt.datetime(1899, 12, 30)).total_seconds() / 86400


def _xlsx(path: Path) -> Path:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Cover").write(0, 0, "CAD export")
    ws = wb.add_worksheet("Calls")
    fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(
        0, 0, ["Call", "Unit", "Received", "Dispatched", "Enroute", "OnScene", "Lat", "Lon"]
    )
    for i in range(3):
        t0 = dt.datetime(2024, 7, 4, 14, 0, 0) + dt.timedelta(hours=i)
        ws.write(i + 1, 0, 1001 + i)  # a numeric id: stored as '1001', not '1001.0'
        ws.write(i + 1, 1, f"E{i + 1}")
        ws.write_datetime(i + 1, 2, t0, fmt)
        ws.write_datetime(i + 1, 3, t0 + dt.timedelta(seconds=50), fmt)
        ws.write_number(i + 1, 4, _serial(t0 + dt.timedelta(seconds=110)))
        ws.write_string(i + 1, 5, (t0 + dt.timedelta(seconds=410)).strftime("%m/%d/%Y %H:%M:%S"))
        ws.write_number(i + 1, 6, 39.74 + i / 100)
        ws.write_number(i + 1, 7, -104.99)
    wb.close()
    return path


def test_xlsx_sheet_date_cells_serials_and_text(tmp_path):
    path = _xlsx(tmp_path / "calls.xlsx")
    prof = load_profile(write_toml(tmp_path / "x.toml", XLSX_TOML))
    report = ingest(path, prof, data_dir=tmp_path / "s")
    assert report.rows_read == 3 == report.rows_accepted
    assert report.files[0].kind == "excel"
    r = Store(tmp_path / "s").sql(
        "select incident_id, call_received_at, turnout_s, travel_s, latitude from responses "
        "order by incident_id"
    )
    assert r["incident_id"].to_list() == ["1001", "1002", "1003"]
    # 14:00 Mountain daylight time = 20:00 UTC
    assert r["call_received_at"][0] == dt.datetime(2024, 7, 4, 20, 0, tzinfo=dt.UTC)
    assert r["turnout_s"].to_list() == [60.0] * 3  # date cell -> Excel serial number
    assert r["travel_s"].to_list() == [300.0] * 3  # serial number -> text time
    # re-ingesting the same workbook adds nothing
    again = ingest(path, prof, data_dir=tmp_path / "s")
    assert again.files[0].skipped
    assert Store(tmp_path / "s").sql("select count(*) from responses_all").item() == 3


def test_unknown_sheet_lists_the_sheets(tmp_path):
    path = _xlsx(tmp_path / "calls.xlsx")
    prof = load_profile(write_toml(tmp_path / "x.toml", XLSX_TOML.replace('"Calls"', '"Data"')))
    with pytest.raises(
        IngestError, match=r"`sheet` 'Data' is not in the workbook; its sheets are 'Cover', 'Calls'"
    ):
        ingest(path, prof, data_dir=tmp_path / "s")


def test_first_sheet_by_default(tmp_path):
    path = _xlsx(tmp_path / "calls.xlsx")
    prof = load_profile(write_toml(tmp_path / "x.toml", XLSX_TOML.replace('sheet = "Calls"\n', "")))
    with pytest.raises(IngestError, match="lacks"):  # the first sheet is the cover page
        ingest(path, prof, data_dir=tmp_path / "s")


XLS_TOML = """
[source]
grain = "unit"
timezone = "America/Los_Angeles"
timestamp_format = "%m/%d/%Y %H:%M:%S"
sheet = "Calls"
crs = "ESRI:102643"   # NAD83 California zone III, US survey feet

[columns]
incident_id = "CALL_NO"
unit_id = "UNIT"
call_received_at = "RECEIVED"
dispatched_at = "DISPATCHED"
enroute_at = "ENROUTE_SERIAL"
on_scene_at = "ONSCENE_TEXT"
longitude = "X"
latitude = "Y"

[formats]
enroute_at = "excel"
"""


def test_legacy_xls_with_state_plane_feet(tmp_path):
    assert _spec is not None and _spec.loader is not None
    make_xls = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(make_xls)  # only its POINTS (running it needs xlwt)
    prof = load_profile(write_toml(tmp_path / "x.toml", XLS_TOML))
    report = ingest(XLS, prof, data_dir=tmp_path / "s")
    assert report.rows_accepted == 4 and report.rows_rejected == 0
    got = (
        Store(tmp_path / "s")
        .sql(
            "select incident_id, latitude, longitude, turnout_s, travel_s from responses order by 1"
        )
        .rows()
    )
    for (inc, lat, lon, turnout, _travel), p in zip(got, make_xls.POINTS, strict=True):
        assert inc == p[0]
        assert lat == pytest.approx(p[2], abs=1e-6) and lon == pytest.approx(p[3], abs=1e-6)
        assert turnout == 70.0
    assert [g[4] for g in got] == [250.0, 260.0, 270.0, 280.0]


def test_profile_template_on_a_workbook(tmp_path):
    path = _xlsx(tmp_path / "calls.xlsx")
    text = profile_template(path, timezone="America/Denver")
    data = tomllib.loads(text)
    assert data["source"]["sheet"] == "Cover"  # the first sheet, said so
    path2 = tmp_path / "one.xlsx"
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path2))
    ws = wb.add_worksheet("Calls")
    fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(0, 0, ["Incident Number", "Unit ID", "Received DtTm", "Dispatch DtTm"])
    for i in range(5):
        t0 = dt.datetime(2024, 7, 4, 14, 0, 0) + dt.timedelta(hours=i)
        ws.write_row(i + 1, 0, [f"I{i}", "E1"])
        ws.write_datetime(i + 1, 2, t0, fmt)
        ws.write_datetime(i + 1, 3, t0 + dt.timedelta(seconds=50), fmt)
    wb.close()
    text = profile_template(path2, timezone="America/Denver")
    data = tomllib.loads(text)
    assert data["source"]["sheet"] == "Calls"
    assert data["columns"]["call_received_at"] == "Received DtTm"
    out = tmp_path / "t.toml"
    out.write_text(text)
    report = ingest(path2, load_profile(out), data_dir=tmp_path / "s")
    assert report.rows_accepted == 5


def test_a_pdf_named_xlsx_is_refused(tmp_path):
    path = tmp_path / "calls.xlsx"
    path.write_bytes(b"%PDF-1.5\n...")
    prof = load_profile(write_toml(tmp_path / "x.toml", XLSX_TOML))
    with pytest.raises(IngestError, match="a PDF document, which cannot be read"):
        ingest(path, prof, data_dir=tmp_path / "s")
