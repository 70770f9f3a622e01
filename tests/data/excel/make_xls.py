"""How ``calls_stateplane.xls`` was made (a legacy Excel 97-2003 workbook, BIFF8).

Neither Polars nor xlsxwriter writes .xls, so this fixture is committed. It was written once
with ``xlwt`` 1.3.0 (PyPI), installed in a throw-away virtualenv, not a project dependency:

    python3 -m venv /tmp/xlwtenv && /tmp/xlwtenv/bin/pip install xlwt
    /tmp/xlwtenv/bin/python tests/data/excel/make_xls.py

Content: 4 SF calls on sheet "Calls" (a sheet "Notes" comes first, so the profile must name
the sheet), coordinates in NAD83 / California zone III in US survey feet (ESRI:102643),
computed from the WGS84 points in ``POINTS`` with pyproj; received / dispatched as Excel date
cells, en route as Excel serial numbers (plain numbers), on scene as text.
"""

import datetime as dt
from pathlib import Path

#: (call, unit, lat, lon, x_ft, y_ft): x / y = pyproj EPSG:4326 -> ESRI:102643 of lat / lon
POINTS = [
    ("X-1001", "E1", 37.7793, -122.4193, 6007018.85, 2111910.39),
    ("X-1002", "E7", 37.7599, -122.4148, 6008174.58, 2104821.28),
    ("X-1003", "E28", 37.8083, -122.4156, 6008304.07, 2122445.82),
    ("X-1004", "M40", 37.7347, -122.4586, 5995323.55, 2095909.49),
]
HEADER = ["CALL_NO", "UNIT", "RECEIVED", "DISPATCHED", "ENROUTE_SERIAL", "ONSCENE_TEXT", "X", "Y"]


def _serial(t: dt.datetime) -> float:
    return (t - dt.datetime(1899, 12, 30)).total_seconds() / 86400


def main() -> None:
    import xlwt  # only here: the tests import POINTS without it

    wb = xlwt.Workbook()
    notes = wb.add_sheet("Notes")
    notes.write(0, 0, "Export of CAD calls; see sheet Calls")
    ws = wb.add_sheet("Calls")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")
    for j, h in enumerate(HEADER):
        ws.write(0, j, h)
    for i, (call, unit, _lat, _lon, x, y) in enumerate(POINTS, start=1):
        rcvd = dt.datetime(2024, 3, 1, 9 + i, 0, 0)
        ws.write(i, 0, call)
        ws.write(i, 1, unit)
        ws.write(i, 2, rcvd, date)
        ws.write(i, 3, rcvd + dt.timedelta(seconds=65), date)
        ws.write(i, 4, _serial(rcvd + dt.timedelta(seconds=65 + 70)))
        ws.write(
            i,
            5,
            (rcvd + dt.timedelta(seconds=65 + 70 + 240 + 10 * i)).strftime("%m/%d/%Y %H:%M:%S"),
        )
        ws.write(i, 6, x)
        ws.write(i, 7, y)
    wb.save(str(Path(__file__).with_name("calls_stateplane.xls")))


if __name__ == "__main__":
    main()
