"""Issue 9: an export's README (xlsx sheet, metadata sidecar) says which agency or agencies it
covers, with each agency's incidents when there are several (counts checked with pandas)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics_helpers as H  # noqa: E402

from dispatch_analytics.cli import app  # noqa: E402
from dispatch_analytics.io.export_meta import ExportMeta  # noqa: E402
from dispatch_analytics.io.export_writers import xlsx_metadata  # noqa: E402
from dispatch_analytics.metrics.agencies import agency_counts  # noqa: E402


def _run(*args):
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp") / "store"
    store = H.sample_store(root)
    _run(
        "zones",
        "load",
        str(H.CITY_AREAS),
        "--layer",
        "shared_areas",
        "--id-field",
        "station_id",
        "--data-dir",
        str(root),
    )
    return store


def _sf(date_from=None, date_to=None) -> int:
    df = pd.read_csv(H.SF_SLICE, dtype=str)
    d = pd.to_datetime(df["Received DtTm"], format="%m/%d/%Y %I:%M:%S %p").dt.date.astype(str)
    keep = pd.Series(True, index=df.index)
    if date_from:
        keep &= d >= date_from
    if date_to:
        keep &= d <= date_to
    return df.loc[keep, "Incident Number"].nunique()


def _readme(path: Path) -> dict:
    sheet = pl.read_excel(path, sheet_name="README", has_header=False)
    return {r[0]: r[1] for r in sheet.iter_rows() if r[0] is not None}


@pytest.mark.slow  # two agencies' exports; fast: test_one_agency_and_a_window
def test_several_agencies_readme_names_them_with_counts(two, tmp_path):
    out = tmp_path / "z.xlsx"
    _run(
        "export",
        "zones",
        "--layer",
        "shared_areas",
        "--agency",
        "SFFD,Sample City FD",
        "--target-s",
        "480",
        "--out",
        str(out),
        "--data-dir",
        str(two.root),
    )
    city = two.sql("select sum(incidents) as n from ingest_log where profile = 'sample_city'")
    readme = _readme(out)
    assert readme["agency"].startswith("SFFD and Sample City FD, together (")
    assert int(readme["incidents, SFFD"]) == _sf()
    assert int(readme["incidents, Sample City FD"]) == int(city["n"][0])
    md = xlsx_metadata(out)
    assert md["agencies"] == [
        {"agency": "SFFD", "incidents": _sf()},
        {"agency": "Sample City FD", "incidents": int(city["n"][0])},
    ]


def test_one_agency_and_a_window(two, tmp_path):
    out = tmp_path / "z.geojson"
    _run(
        "export",
        "zones",
        "--layer",
        "shared_areas",
        "--agency",
        "SFFD",
        "--target-s",
        "480",
        "--from",
        "2017-01-01",
        "--to",
        "2017-01-02",
        "--out",
        str(out),
        "--data-dir",
        str(two.root),
    )
    md = json.loads((tmp_path / "z.metadata.json").read_text())
    assert md["agency"] == "SFFD"
    assert md["agencies"] == [{"agency": "SFFD", "incidents": _sf("2017-01-01", "2017-01-02")}]
    xl = tmp_path / "one.xlsx"
    _run(
        "export",
        "zones",
        "--layer",
        "shared_areas",
        "--agency",
        "SFFD",
        "--target-s",
        "480",
        "--out",
        str(xl),
        "--data-dir",
        str(two.root),
    )
    readme = _readme(xl)
    assert readme["agency"] == "SFFD" and not any(k.startswith("incidents,") for k in readme)


def test_agency_counts_edges(two):
    con = two.connect(read_only=True)
    assert agency_counts(con, "SFFD", "2030-01-01", "2030-12-31") == {"SFFD": 0}  # empty window
    both = agency_counts(con, "all")
    assert both == agency_counts(con, None) == agency_counts(con, ["Sample City FD", "SFFD"])
    assert both["SFFD"] == _sf()


def test_agency_text_without_counts():
    m = ExportMeta(title="t", kind="zones", columns=[])
    assert m.agency_text == "all agencies in the store"
    m.agency = ["A", "B"]
    assert m.agency_text == "A, B (together)"
    m.agencies = {"A": 1200, "B": 3}
    assert m.agency_text == "A and B, together (1,200 and 3 incidents)"
    m.agencies = {"A": 5}
    assert m.agency_text == "A"
