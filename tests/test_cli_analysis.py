"""The analysis commands end to end: zones, stations, queries, query, report.

One small store (the SFFD slice, profile sffd, plus the 41 SF neighbourhoods as layer
``neighborhoods`` and the SF fire stations) is built once for the module through the CLI;
tests that change a store build their own.
"""

from __future__ import annotations

import io
import json
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import polars as pl
import pytest
from conftest import SF_SLICE, SF_STATIONS_LOAD

from dispatch_analytics.cli import main

ROOT = Path(__file__).resolve().parents[1]
SF_WEEK = ROOT / "sample_data" / "sf_week"
NHOODS = SF_WEEK / "sf_analysis_neighborhoods.geojson"
STATIONS = SF_WEEK / "sf_fire_stations.geojson"
QUERIES = {
    "call_concurrency",
    "cross_area_responses",
    "station_busy_share",
    "unit_hour_utilization",
    "unit_hour_utilization_by_hour",
    "data_quality",
    "first_due_reliability",
    "fractile_compliance",
    "hour_weekday_heatmap",
    "monthly_trend",
    "response_intervals",
    "travel_observations",
    "unit_turnout",
}
FRACTILE_PARAMS = [
    "-p",
    "metric=total_response",
    "-p",
    "layer=neighborhoods",
    "-p",
    "target_s=480",
    "-p",
    "period=month",
]
FRACTILE_COLUMNS = [
    "zone_id",
    "period_start",
    "n",
    "n_missing",
    "mean_s",
    "p50_s",
    "p90_s",
    "p95_s",
    "percentile",
    "p_value_s",
    "ci_low_s",
    "ci_high_s",
    "target_s",
    "compliance",
    "met",
    "flag",
]


def flat(text: str) -> str:
    """Text with every run of whitespace as one space (rich wraps long messages)."""
    return " ".join(text.split())


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, flat(out.err)


def run_quiet(*args) -> tuple[int, str, str]:
    """``main`` outside a test function (no capsys): output captured by redirection."""
    o, e = io.StringIO(), io.StringIO()
    with redirect_stdout(o), redirect_stderr(e):
        code = main([str(a) for a in args])
    return code, o.getvalue(), flat(e.getvalue())


def build_store(d: Path) -> dict[str, tuple[int, str, str]]:
    """Ingest the slice, load the neighbourhoods and the stations; the outputs by step."""
    steps = {
        "ingest": ("ingest", SF_SLICE, "--profile", "sffd"),
        "zones": ("zones", "load", NHOODS, "--layer", "neighborhoods", "--id-field", "nhood"),
        "stations": SF_STATIONS_LOAD,
    }
    res = {}
    for name, args in steps.items():
        res[name] = run_quiet(*args, "--data-dir", d)
        assert res[name][0] == 0, (name, res[name])
    return res


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis") / "store"
    return d, build_store(d)


def sql(capsys, d, query: str) -> list[dict]:
    code, out, err = run(capsys, "sql", query, "--data-dir", d, "-f", "json")
    assert code == 0, err
    return json.loads(out)


# ---------------------------------------------------------------- zones and stations
def test_zones_load_reports_counts(store, capsys):
    d, setup = store
    code, out, _ = setup["zones"]
    text = flat(out)
    assert "layer 'neighborhoods': 41 zones" in text
    n_inc = sql(capsys, d, "select count(*) as n from incidents")[0]["n"]
    assert f"incidents: {n_inc:,} in a zone, 0 outside every zone, 0 without coordinates" in text


def test_zones_list_json(store, capsys):
    d, _ = store
    code, out, err = run(capsys, "zones", "list", "--data-dir", d, "-f", "json")
    assert code == 0, err
    layers = json.loads(out)
    assert [r["layer"] for r in layers] == ["neighborhoods"]
    row = layers[0]
    n_inc = sql(capsys, d, "select count(*) as n from incidents")[0]["n"]
    assert row["zones"] == 41
    assert row["incidents_in_zones"] == n_inc > 100 and row["incidents_outside"] == 0
    assert 100 < row["area_km2"] < 150  # San Francisco's land area is about 121 km2
    code, out, _ = run(capsys, "zones", "list", "--data-dir", d)
    assert code == 0 and "neighborhoods" in out and "41" in out


def test_zones_outside_csv(store, capsys, tmp_path):
    d, _ = store
    target = tmp_path / "x.csv"
    code, out, err = run(
        capsys, "zones", "outside", "--layer", "neighborhoods", "--out", target, "--data-dir", d
    )
    assert code == 0, err
    assert "wrote 0 incidents" in flat(out)
    df = pl.read_csv(target)
    assert df.columns == ["agency", "incident_id", "latitude", "longitude"] and df.height == 0
    code, _, err = run(capsys, "zones", "outside", "--layer", "nope", "--data-dir", d)
    assert code == 1 and "'nope' is not loaded" in err and "neighborhoods" in err


def test_zones_load_bad_id_field_names_fields(store, capsys):
    d, _ = store
    code, _, err = run(
        capsys, "zones", "load", NHOODS, "--layer", "other", "--id-field", "nhod", "--data-dir", d
    )
    assert code == 1
    assert "`id_field` 'nhod' is not a field" in err
    assert "available fields: nhood" in err and "did you mean 'nhood'?" in err
    code, out, _ = run(capsys, "zones", "list", "--data-dir", d, "-f", "json")
    assert [r["layer"] for r in json.loads(out)] == ["neighborhoods"]  # nothing half-loaded


def test_zones_load_bad_layer_name(store, capsys):
    d, _ = store
    code, _, err = run(
        capsys,
        "zones",
        "load",
        NHOODS,
        "--layer",
        "SF Hoods",
        "--id-field",
        "nhood",
        "--data-dir",
        d,
    )
    assert code == 1 and "not a valid layer name" in err and "'sf_hoods'" in err


def test_stations_load_ids(store, capsys):
    d, setup = store
    text = flat(setup["stations"][1])
    assert "42 stations" in text and "id field 'common_name'" in text
    # the slice's Station Area 35 (fireboat) and 51 have no point in the city's list
    assert "station ids in the incidents without a station point: 35, 51" in text
    rows = sql(capsys, d, "select station_id, name from stations order by station_id")
    ids = [r["station_id"] for r in rows]
    assert len(ids) == 42 and len(set(ids)) == 42
    assert "07" in ids and "01" in ids
    assert all(len(i) >= 2 and i.isdigit() for i in ids)  # "Fire Station #7" -> "07"


# ---------------------------------------------------------------- queries / query
def test_queries_lists_them_all(capsys):
    code, out, err = run(capsys, "queries", "-f", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["name"] for r in rows} == QUERIES and len(rows) == len(QUERIES)
    fc = next(r for r in rows if r["name"] == "fractile_compliance")
    assert "target_s" in fc["params"] and "percentile=90" in fc["params"]
    code, out, _ = run(capsys, "queries")
    assert code == 0 and all(q in out for q in QUERIES)


@pytest.fixture(scope="module")
def fractiles(store, tmp_path_factory):
    """fractile_compliance written as csv, json and parquet."""
    d, _ = store
    out_dir = tmp_path_factory.mktemp("fractiles")
    frames = {}
    for fmt in ("csv", "json", "parquet"):
        target = out_dir / f"fc.{fmt}"
        code, out, err = run_quiet(
            "query",
            "fractile_compliance",
            *FRACTILE_PARAMS,
            "-f",
            fmt,
            "--out",
            target,
            "--data-dir",
            d,
        )
        assert code == 0, err
        assert target.exists() and "wrote" in out, out
        if fmt == "csv":
            frames[fmt] = pl.read_csv(target, try_parse_dates=True)
        elif fmt == "json":
            frames[fmt] = pl.DataFrame(json.loads(target.read_text()), infer_schema_length=None)
        else:
            frames[fmt] = pl.read_parquet(target)
    return frames


def test_query_fractile_compliance_outputs(store, fractiles, capsys):
    d, _ = store
    pq = fractiles["parquet"]
    assert pq.columns == FRACTILE_COLUMNS
    nhoods = {r["zone_id"] for r in sql(capsys, d, "select zone_id from zones")}
    assert set(pq["zone_id"].drop_nulls()) <= nhoods and pq["zone_id"].null_count() == 0
    months = {str(m) for m in pq["period_start"]}
    assert months <= {"2016-12-01", "2017-01-01"} and months
    with_value = sql(capsys, d, "select count(total_response_s) as n from incidents")[0]["n"]
    assert pq["n"].sum() == with_value
    assert (pq["target_s"] == 480).all() and (pq["percentile"] == 90).all()
    assert (pq["met"] == (pq["compliance"] >= 0.9)).all()
    assert (pq["p50_s"] <= pq["p90_s"]).all() and (pq["p90_s"] <= pq["p95_s"]).all()
    assert set(pq["flag"].drop_nulls()) <= {"no_data", "small_sample", "ci_unbounded"}
    for fmt in ("csv", "json"):
        other = fractiles[fmt]
        assert other.columns == FRACTILE_COLUMNS, fmt
        assert other.height == pq.height, fmt
        assert [str(v) for v in other["zone_id"]] == [str(v) for v in pq["zone_id"]], fmt
        assert other["n"].to_list() == pq["n"].to_list(), fmt
        assert other["p90_s"].to_list() == pq["p90_s"].to_list(), fmt
        assert [str(v) for v in other["period_start"]] == [str(v) for v in pq["period_start"]]


def test_query_to_stdout(store, capsys):
    d, _ = store
    code, out, err = run(
        capsys, "query", "fractile_compliance", *FRACTILE_PARAMS, "-f", "json", "--data-dir", d
    )
    assert code == 0, err
    rows = json.loads(out)
    assert rows and set(rows[0]) == set(FRACTILE_COLUMNS)
    code, out, err = run(
        capsys, "query", "fractile_compliance", *FRACTILE_PARAMS, "-f", "csv", "--data-dir", d
    )
    assert code == 0 and out.splitlines()[0] == ",".join(FRACTILE_COLUMNS)
    assert len(out.splitlines()) == len(rows) + 1


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["nosuch"], 1, ["unknown query 'nosuch'", "known queries:", "fractile_compliance"]),
        (
            ["fractile_compliance", "-p", "metric=total_response"],
            1,
            ["missing required parameter 'target_s'", "valid parameters: metric, layer"],
        ),
        (
            ["fractile_compliance", "-p", "metric=travel", "-p", "target_s=240", "-p", "foo=1"],
            1,
            ["unknown parameter 'foo'", "valid parameters:"],
        ),
        (
            ["fractile_compliance", "-p", "metric=bogus", "-p", "target_s=240"],
            1,
            ["parameter metric must be one of", "total_response", "got 'bogus'"],
        ),
        (
            [
                "fractile_compliance",
                "-p",
                "metric=travel",
                "-p",
                "target_s=240",
                "-p",
                "percentile=ninety",
            ],
            1,
            ["parameter `percentile` must be a percentile, e.g. 90", "'ninety'"],
        ),
        (
            [
                "fractile_compliance",
                "-p",
                "metric=travel",
                "-p",
                "target_s=240",
                "-p",
                "layer=nolayer",
            ],
            1,
            ["unknown layer 'nolayer'", "valid layers: neighborhoods"],
        ),
        (
            [
                "fractile_compliance",
                "-p",
                "metric=travel",
                "-p",
                "target_s=240",
                "-p",
                "period=fortnight",
            ],
            1,
            ["parameter period must be one of", "month"],
        ),
        (["fractile_compliance", "-p", "metric"], 2, ["'metric' must look like key=value"]),
        (["fractile_compliance", "-p", "=5"], 2, ["must look like key=value"]),
        (
            ["fractile_compliance", "-p", "metric=travel", "-p", "target_s=240", "-f", "parquet"],
            2,
            ["`--format parquet` needs `--out FILE.parquet`"],
        ),
        (
            ["fractile_compliance", "-p", "metric=travel", "-p", "target_s=240", "-f", "xml"],
            2,
            ["`--format` 'xml' must be table, csv or json"],
        ),
    ],
)
def test_query_errors(store, capsys, args, code, needles):
    d, _ = store
    got, out, err = run(capsys, "query", *args, "--data-dir", d)
    assert got == code, (got, out, err)
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Traceback" not in err


def test_query_non_numeric_target_is_an_error(store, capsys):
    d, _ = store
    code, _, err = run(
        capsys,
        "query",
        "fractile_compliance",
        "-p",
        "metric=travel",
        "-p",
        "target_s=abc",
        "--data-dir",
        d,
    )
    assert code == 1 and "fractile_compliance" in err and "'abc'" in err


# ---------------------------------------------------------------- report
def test_report_json(store, capsys, tmp_path):
    d, _ = store
    target = tmp_path / "r.json"
    code, _, err = run(
        capsys, "report", "--layer", "neighborhoods", "-f", "json", "--out", target, "--data-dir", d
    )
    assert code == 0, err
    rep = json.loads(target.read_text())
    assert rep["profile"] == "nfpa1710" and rep["layer"] == "neighborhoods"
    assert {"metrics", "table", "quality"} <= set(rep)
    standards = {r["standard"] for r in rep["table"]}
    assert {"call_processing", "turnout_ems", "turnout_fire", "travel_first_unit"} <= standards
    nhoods = {r["zone_id"] for r in sql(capsys, d, "select zone_id from zones")}
    zones = {r["zone_id"] for r in rep["table"]}
    assert zones & nhoods and zones <= nhoods | {None}
    for r in rep["table"]:
        if r["p_value_s"] is not None and r["target_s"] is not None:
            assert r["met"] == (r["p_value_s"] <= r["target_s"])
    items = {(q["section"], q["item"]) for q in rep["quality"]}
    # per-interval exclusion: the SF week's out-of-order stages are excluded, not rejected, and
    # the report says why values are missing
    assert ("ingest", "rows_rejected") in items
    scoped = [q for q in rep["quality"] if q["section"] == "missing_interval_in_scope"]
    assert any("why: missing" in (q["detail"] or "") for q in scoped)


def test_report_csv(store, capsys, tmp_path):
    d, _ = store
    target = tmp_path / "r.csv"
    code, _, err = run(
        capsys, "report", "--layer", "neighborhoods", "-f", "csv", "--out", target, "--data-dir", d
    )
    assert code == 0, err
    df = pl.read_csv(target, infer_schema_length=None)
    assert {
        "profile",
        "standard",
        "zone_id",
        "n",
        "p_value_s",
        "target_s",
        "compliance",
        "met",
        "flag",
    } <= set(df.columns)
    assert df.height > 41 and (df["profile"] == "nfpa1710").all()
    code, out, _ = run(capsys, "report", "--layer", "neighborhoods", "-f", "csv", "--data-dir", d)
    assert code == 0 and out.splitlines()[0] == target.read_text().splitlines()[0]


@pytest.mark.slow  # an xlsx report; fast: test_report_csv, test_report.py::test_csv_json_xlsx
def test_report_xlsx(store, capsys, tmp_path):
    d, _ = store
    target = tmp_path / "r.xlsx"
    code, out, err = run(
        capsys, "report", "--layer", "neighborhoods", "-f", "xlsx", "--out", target, "--data-dir", d
    )
    assert code == 0, err
    assert f"wrote {target}" in flat(out)
    try:
        import openpyxl
    except ImportError:
        openpyxl = None
    if openpyxl is not None:
        wb = openpyxl.load_workbook(target, read_only=True)
        assert {"compliance", "quality"} <= set(wb.sheetnames)
        wb.close()
    else:
        assert zipfile.is_zipfile(target)
        with zipfile.ZipFile(target) as z:
            names = z.namelist()
            assert any(n.startswith("xl/worksheets/") for n in names)
            workbook = z.read("xl/workbook.xml").decode()
        for sheet in ("compliance", "quality", "metrics", "about"):
            assert f'name="{sheet}"' in workbook, sheet
    code, _, err = run(capsys, "report", "-f", "xlsx", "--data-dir", d)
    assert code == 2 and "`--format xlsx` needs `--out FILE.xlsx`" in err


def test_report_table_to_stdout(store, capsys):
    d, _ = store
    code, out, err = run(capsys, "report", "--layer", "neighborhoods", "--data-dir", d)
    assert code == 0, err
    assert "nfpa1710" in out and "nearest" in out.lower()


def test_report_unknown_layer(store, capsys):
    d, _ = store
    code, _, err = run(capsys, "report", "--layer", "nolayer", "--data-dir", d)
    assert code == 1
    assert "unknown layer 'nolayer'" in err and "valid layers: neighborhoods" in err


def test_report_unknown_profile(store, capsys):
    d, _ = store
    code, _, err = run(capsys, "report", "--profile", "nfpa9999", "--data-dir", d)
    assert code == 1
    assert "unknown standards profile 'nfpa9999'" in err
    assert "cfai, nfpa1225, nfpa1710, nfpa1720" in err


def test_report_bad_format(store, capsys):
    d, _ = store
    code, _, err = run(capsys, "report", "-f", "pdf", "--data-dir", d)
    assert code == 2 and "'pdf' must be table, csv, json or xlsx" in err


def test_commands_need_a_store(capsys, tmp_path):
    empty = tmp_path / "empty"
    for args in (
        ("zones", "list"),
        ("zones", "outside", "--layer", "x"),
        ("query", "fractile_compliance", "-p", "metric=travel", "-p", "target_s=1"),
        ("report",),
    ):
        code, _, err = run(capsys, *args, "--data-dir", empty)
        assert code == 1 and "no store in" in err, args


# ---------------------------------------------------------------- assignment after ingest
def more_calls(path: Path) -> tuple[Path, int]:
    """20 rows of the slice as new incidents (new ids); the first moved to Oakland."""
    df = pl.read_csv(SF_SLICE, infer_schema=False).head(20)
    df = df.with_columns(
        *[("9" + pl.col(c)).alias(c) for c in ("Incident Number", "Call Number", "RowID")],
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("(37.8044, -122.2712)"))
        .otherwise(pl.col("Location"))
        .alias("Location"),
    )
    df.write_csv(path)
    return path, df["Incident Number"].n_unique()


def test_second_ingest_is_assigned(tmp_path, capsys):
    d = tmp_path / "store"
    build_store(d)
    before = sql(
        capsys,
        d,
        "select count(*) as n, count(zone_id) as z from incident_zones "
        "where layer = 'neighborhoods'",
    )[0]
    n_before = sql(capsys, d, "select count(*) as n from incidents")[0]["n"]
    assert before == {"n": n_before, "z": n_before}

    path, n_new = more_calls(tmp_path / "more.csv")
    code, out, err = run(capsys, "ingest", path, "--profile", "sffd", "--data-dir", d)
    assert code == 0, err
    text = flat(out)
    assert "rows read 20 = accepted 20 + rejected 0" in text
    assert f"zones 'neighborhoods': {n_before + n_new - 1:,} incidents in a zone, 1 outside" in text

    after = sql(
        capsys,
        d,
        "select count(*) as n, count(zone_id) as z from incident_zones "
        "where layer = 'neighborhoods'",
    )[0]
    n_after = sql(capsys, d, "select count(*) as n from incidents")[0]["n"]
    assert n_after == n_before + n_new
    assert after == {"n": n_after, "z": n_after - 1}  # every incident has a row
    unassigned = sql(
        capsys,
        d,
        "select count(*) as n from incidents i anti join incident_zones "
        "z on z.incident_id = i.incident_id and z.layer = 'neighborhoods'",
    )
    assert unassigned[0]["n"] == 0

    code, out, _ = run(capsys, "zones", "list", "--data-dir", d, "-f", "json")
    row = json.loads(out)[0]
    assert (row["incidents_in_zones"], row["incidents_outside"]) == (n_after - 1, 1)
    target = tmp_path / "outside.csv"
    code, _, _ = run(
        capsys, "zones", "outside", "--layer", "neighborhoods", "--out", target, "--data-dir", d
    )
    outside = pl.read_csv(target, schema_overrides={"incident_id": pl.String})
    assert code == 0 and outside.height == 1
    assert outside["incident_id"][0].startswith("9")
    assert abs(outside["latitude"][0] - 37.8044) < 1e-6

    # the new incidents count in the fractiles (zone NULL = outside every zone)
    code, out, err = run(
        capsys, "query", "fractile_compliance", *FRACTILE_PARAMS, "-f", "json", "--data-dir", d
    )
    assert code == 0, err
    rows = json.loads(out)
    with_value = sql(capsys, d, "select count(total_response_s) as n from incidents")[0]["n"]
    assert sum(r["n"] + r["n_missing"] for r in rows) == n_after
    assert sum(r["n"] for r in rows) == with_value
    assert any(r["zone_id"] is None for r in rows)
