"""Repeated units (issue 11.2): one unit twice on one incident in one batch is two
assignments; a newer batch's record of the same assignment supersedes the older one."""

from __future__ import annotations

from conftest import UNIT_HEADER, unit_row, write_csv

from dispatch_analytics import Store, ingest, load_profile

#: E1 dispatched at 10:01, arrives 10:05, clears 10:20; dispatched again at 10:30 (the call
#: re-opened), arrives 10:36
FIRST = unit_row(
    inc="A",
    unit="E1",
    disp="01/15/2024 10:01:00",
    enrt="01/15/2024 10:02:00",
    arrv="01/15/2024 10:05:00",
    clr="01/15/2024 10:20:00",
)
SECOND = unit_row(
    inc="A",
    unit="E1",
    disp="01/15/2024 10:30:00",
    enrt="01/15/2024 10:31:00",
    arrv="01/15/2024 10:36:00",
    clr="01/15/2024 10:50:00",
)
OTHER = unit_row(inc="A", unit="M2", arrv="01/15/2024 10:09:00")


def _responses(data_dir):
    return Store(data_dir).sql(
        "select unit_id, assignment, assignments, dispatched_at, on_scene_at from responses "
        "order by unit_id, assignment"
    )


def test_same_unit_twice_in_a_batch_is_two_assignments(tmp_path, data_dir, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [SECOND, OTHER, FIRST])
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 3
    r = _responses(data_dir)
    assert r.select("unit_id", "assignment", "assignments").rows() == [
        ("E1", 1, 2),
        ("E1", 2, 2),
        ("M2", 1, 1),
    ]
    # numbered in dispatch order, whatever the row order
    assert r["dispatched_at"][0] < r["dispatched_at"][1]
    inc = Store(data_dir).sql("select * from incidents").row(0, named=True)
    # the first arrival is the earliest of all assignments (E1's first, not hidden by its second)
    assert inc["first_arriving_unit"] == "E1"
    assert inc["total_response_s"] == 300.0
    assert (inc["units_assigned"], inc["assignments"]) == (2, 3)


def test_row_order_does_not_change_the_numbering(tmp_path, unit_toml):
    out = []
    for i, rows in enumerate(([FIRST, SECOND, OTHER], [OTHER, SECOND, FIRST])):
        path = write_csv(tmp_path / f"x{i}.csv", UNIT_HEADER, rows)
        ingest(path, load_profile(unit_toml), data_dir=tmp_path / f"s{i}")
        out.append(_responses(tmp_path / f"s{i}"))
    assert out[0].equals(out[1])


def test_newer_batch_supersedes_the_same_assignment(tmp_path, data_dir, unit_toml):
    early = unit_row(
        inc="A", unit="E1", disp="01/15/2024 10:01:00", enrt="01/15/2024 10:02:00", arrv="", clr=""
    )
    ingest(
        write_csv(tmp_path / "d1.csv", UNIT_HEADER, [early]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    assert _responses(data_dir).height == 1
    # the export grew: E1's first assignment completed and a second one started
    ingest(
        write_csv(tmp_path / "d2.csv", UNIT_HEADER, [FIRST, SECOND]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    r = Store(data_dir).sql(
        "select assignment, source, on_scene_at is not null as arrived from responses "
        "order by assignment"
    )
    assert r["assignment"].to_list() == [1, 2]
    assert all(s.endswith("d2.csv") for s in r["source"]) and all(r["arrived"])
    assert Store(data_dir).sql("select count(*) from responses_all").item() == 3


def test_batches_of_the_previous_schema_still_read(tmp_path, data_dir, unit_toml):
    """A batch written before stage_flags / stage_raw / location_flag existed reads with them
    NULL (the store reads every table with its zero-row schema file, union_by_name)."""
    import polars as pl

    ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, [FIRST, OTHER]),
        load_profile(unit_toml),
        data_dir=data_dir,
    )
    store = Store(data_dir)
    for f in store.batches_dir.glob("*/responses-*.parquet"):
        df = pl.read_parquet(f)
        if df.height:
            df.drop("stage_flags", "stage_raw", "location_flag").write_parquet(f)
    store = Store(data_dir)
    store.refresh_derived()
    r = store.sql(
        "select count(*) as n, count(stage_flags) as flagged, count(location_flag) as unlocated, "
        "count(travel_s) as travel from responses"
    ).row(0, named=True)
    assert r == {"n": 2, "flagged": 0, "unlocated": 0, "travel": 2}
    inc = store.sql("select total_response_s, stage_flags from incidents").row(0)
    assert inc == (300.0, None)
