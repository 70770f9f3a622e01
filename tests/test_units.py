"""Units: loading a unit list (CSV / Parquet / Excel), deriving home stations by a rule,
the `units` view, errors and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import SF_SLICE, copy_store, write_csv

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.cli import main
from dispatch_analytics.errors import UnitError
from dispatch_analytics.spatial.units import derive_units, load_units, read_units

TOWN = Path(__file__).parent / "data" / "coverage"


@pytest.fixture
def town(town_stations_store, tmp_path) -> Path:
    """The town's calls and stations: a private copy of the session's (conftest.py)."""
    return copy_store(town_stations_store, tmp_path / "store")


def test_load_csv_stores_units_and_lists_unknown_stations(town):
    rep = load_units(town, TOWN / "town_units.csv")
    assert rep.n_units == 4 and rep.station_ids == ["S1", "S2", "S3", "S9"]
    assert rep.unknown_station == ["M9 (S9)"]
    assert "not loaded" in rep.summary()
    df = read_units(town)
    assert df.columns == ["unit_id", "station_id", "unit_type", "staffing", "source"]
    assert df.sort("unit_id")["staffing"].to_list() == [4, 4, 3, 2]
    view = Store(town).sql("select unit_id, station_id from units order by unit_id")
    assert view.rows() == [("E1", "S1"), ("E2", "S2"), ("E3", "S3"), ("M9", "S9")]


def test_parquet_and_excel_give_the_same_units(town, tmp_path):
    src = pl.read_csv(TOWN / "town_units.csv", infer_schema=False)
    src.write_parquet(tmp_path / "u.parquet")
    src.rename({"unit_id": "Unit_ID"}).write_excel(tmp_path / "u.xlsx")
    load_units(town, tmp_path / "u.parquet")
    a = read_units(town).drop("source")
    load_units(town, tmp_path / "u.xlsx")
    b = read_units(town).drop("source")
    assert a.equals(b) and a.height == 4


@pytest.mark.parametrize(
    ("rows", "header", "match"),
    [
        ([["E1", "S1"]], ["unit_id", "station_id"], r"lacks the column\(s\) `unit_type`"),
        ([["", "S1", "E"]], ["unit_id", "station_id", "unit_type"], r"blank `unit_id` on line"),
        (
            [["E1", "S1", "E"], ["E1", "S2", "E"]],
            ["unit_id", "station_id", "unit_type"],
            r"duplicate `unit_id` values: E1",
        ),
        (
            [["E1", "", "E"]],
            ["unit_id", "station_id", "unit_type"],
            r"units with no `station_id`: E1; give each unit its home station",
        ),
        (
            [["E1", "S1", "E", "four"]],
            ["unit_id", "station_id", "unit_type", "staffing"],
            r"`staffing` must be a whole number .* E1 \('four'\)",
        ),
    ],
)
def test_bad_unit_lists(town, tmp_path, rows, header, match):
    p = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(UnitError, match=match):
        load_units(town, p)


def test_every_problem_is_listed_at_once(town, tmp_path):
    p = write_csv(
        tmp_path / "bad.csv",
        ["unit_id", "station_id", "unit_type"],
        [["E1", "", "E"], ["E1", "S1", "E"], ["", "S2", "E"]],
    )
    with pytest.raises(UnitError) as exc:
        load_units(town, p)
    assert len(exc.value.problems) == 3


def test_derive_with_regex_prefix(town):
    rep = derive_units(town, regex=r"(\d+)$", prefix="S")
    assert rep.n_units == 3 and rep.station_ids == ["S1", "S2", "S3"]
    assert rep.unknown_station == [] and rep.without_station == []
    assert read_units(town)["source"][0].startswith("rule regex")


def test_derive_on_the_sf_slice_lists_units_it_cannot_place(tmp_path):
    root = tmp_path / "sf"
    ingest(SF_SLICE, load_profile("sffd"), data_dir=root)
    rep = derive_units(root, regex=r"^[ET](\d+)$", zero_pad=2)
    seen = set(Store(root).sql("select distinct unit_id from responses")["unit_id"].to_list())
    units = read_units(root)
    assert set(units["unit_id"].to_list()) | set(rep.without_station) == seen
    for u, s in units.select("unit_id", "station_id").iter_rows():
        assert u[0] in "ET" and s == u[1:].zfill(2)
    assert all(not (u[0] in "ET" and u[1:].isdigit()) for u in rep.without_station)


def test_derive_from_responses(tmp_path):
    from dispatch_analytics.sample.city import generate_city

    c = generate_city(tmp_path / "city", n_incidents=200, seed=3)
    root = tmp_path / "store"
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root)
    derive_units(root, from_responses=True)
    units = read_units(root)
    engines = units.filter(pl.col("unit_id").str.starts_with("E"))
    assert engines.height and all(
        s == "S" + u[1:] for u, s in engines.select("unit_id", "station_id").iter_rows()
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"give exactly one rule"),
        ({"regex": "x", "from_responses": True}, r"give exactly one rule"),
        ({"regex": "(unclosed"}, r"`regex` '\(unclosed' is not a regular expression"),
        ({"regex": r"(\d+)", "zero_pad": 0}, r"`zero_pad` must be an integer from 1 to 32"),
        ({"regex": r"^Q(\d+)$"}, r"gives no station to any of the 3 unit ids"),
    ],
)
def test_derive_errors(town, kwargs, match):
    with pytest.raises(UnitError, match=match):
        derive_units(town, **kwargs)


def test_derive_needs_a_store(tmp_path):
    with pytest.raises(UnitError, match="no store in"):
        derive_units(tmp_path / "nothing", regex=r"(\d+)$")


def test_a_catalog_without_the_units_view_is_rebuilt(town):
    store = Store(town)
    con = duckdb.connect(str(store.catalog_path))
    con.execute("drop view units")
    con.close()
    assert Store(town).sql("select count(*) as n from units")["n"][0] == 0


# ----------------------------------------------------------------------------- CLI
def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, " ".join(cap.err.split())  # rich wraps long lines


def test_cli_units_load_derive_list(town, capsys):
    code, out, err = run(capsys, "units", "load", TOWN / "town_units.csv", "--data-dir", town)
    assert code == 0, err
    assert "4 units from" in out and "M9 (S9)" in out
    code, out, _ = run(capsys, "units", "list", "--format", "json", "--data-dir", town)
    rows = json.loads(out)
    assert code == 0 and [r["station_loaded"] for r in rows] == [True, True, True, False]
    code, out, _ = run(
        capsys, "units", "derive", "--regex", r"(\d+)$", "--prefix", "S", "--data-dir", town
    )
    assert code == 0 and "3 units from rule" in out


def test_cli_unit_errors(town, capsys, tmp_path):
    p = write_csv(tmp_path / "bad.csv", ["unit_id", "station_id", "unit_type"], [["E1", "", "E"]])
    code, _, err = run(capsys, "units", "load", p, "--data-dir", town)
    assert code == 1 and "units with no `station_id`: E1" in err
    code, _, err = run(capsys, "units", "derive", "--data-dir", town)
    assert code == 1 and "give exactly one rule" in err
    code, _, err = run(capsys, "units", "load", tmp_path / "missing.csv", "--data-dir", town)
    assert code == 1 and "no such file" in err
    code, _, err = run(capsys, "units", "derive", "--zero-pad", "x", "--data-dir", town)
    assert code == 2


def test_cli_units_list_empty(tmp_path, capsys):
    root = tmp_path / "s"
    shutil.copytree(Path(__file__).parent / "data" / "coverage", tmp_path / "copy")
    ingest(TOWN / "town_calls.csv", load_profile(TOWN / "town_calls.toml"), data_dir=root)
    code, out, _ = run(capsys, "units", "list", "--data-dir", root)
    assert code == 0 and "dispatch units load FILE" in out
