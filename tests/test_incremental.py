"""An ingest costs its batch, not the store (issue 13, item 1).

The derived incidents table grows by parts, the zone / H3 assignment by the changed
incidents, the duplicate check looks up the chunk's hashes only: each checked here against
an independent computation (the live SQL over every row, shapely point-in-polygon, the h3
library's scalar API), over random batch splits with supersede and repeated units.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import h3
import polars as pl
import pytest
import shapely
from conftest import UNIT_HEADER, UNIT_TOML, examples, unit_row, write_csv, write_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.api import remove_batches
from dispatch_analytics.spatial.zones import load_zones
from dispatch_analytics.store import assignment_parts as parts_mod
from dispatch_analytics.store import derived as derived_mod

#: two squares side by side near (40.71, -74.00); points east of both are in no zone
SQUARES = {
    "A": [(-74.02, 40.70), (-74.00, 40.70), (-74.00, 40.72), (-74.02, 40.72)],
    "B": [(-74.00, 40.70), (-73.98, 40.70), (-73.98, 40.72), (-74.00, 40.72)],
}
POINTS = [("40.705", "-74.010"), ("40.715", "-73.990"), ("40.710", "-73.950"), ("", "")]


def _zones_file(path: Path) -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {"id": zid},
            "geometry": {"type": "Polygon", "coordinates": [[*map(list, ring), list(ring[0])]]},
        }
        for zid, ring in SQUARES.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def _row(inc: int, unit: str, minute: int, point: int, arrive: bool) -> list:
    lat, lon = POINTS[point]
    return unit_row(
        inc=f"I{inc}",
        unit=unit,
        disp=f"01/15/2024 10:{minute:02d}:00",
        enrt=f"01/15/2024 10:{minute:02d}:30",
        arrv=f"01/15/2024 10:{minute + 5:02d}:00" if arrive else "",
        clr=f"01/15/2024 11:{minute:02d}:00",
        lat=lat,
        lon=lon,
    )


def _brute_zone(lat, lon) -> str | None:
    if lat is None or lon is None:
        return None
    for zid, ring in SQUARES.items():  # zone order: the first zone covering the point
        if shapely.Polygon(ring).covers(shapely.Point(lon, lat)):
            return zid
    return None


INC_COLS = "select * from {} order by agency, incident_id"


def _check_store(root: Path) -> None:
    """incidents, incident_zones and incident_cells equal their independent computation."""
    store = Store(root, create=False)
    got = store.sql(INC_COLS.format("incidents"))
    live = store.sql(INC_COLS.format("incidents_live"))  # every row, recomputed
    assert store.sql("select count(*) from _fresh_incidents").item() == 0  # all derived
    assert got.equals(live)
    cols = ["agency", "incident_id", "latitude", "longitude", "first_on_scene_at"]
    rows = store.derived_rows(got.select("agency", "incident_id"), cols)  # read from the parts
    if got.height:
        assert rows is not None and rows.sort(cols[:2]).equals(got.select(cols))
    zones = store.sql("select agency, incident_id, zone_id from incident_zones")
    want = {
        (a, i): _brute_zone(lat, lon)
        for a, i, lat, lon in got.select("agency", "incident_id", "latitude", "longitude").rows()
    }
    assert {(a, i): z for a, i, z in zones.rows()} == want
    assert zones.height == len(want)  # one row per incident, none for a removed one
    cells = store.sql("select agency, incident_id, h3_cell from incident_cells")
    want_cells = {
        (a, i): None if lat is None else h3.latlng_to_cell(lat, lon, 8)
        for a, i, lat, lon in got.select("agency", "incident_id", "latitude", "longitude").rows()
    }
    assert {(a, i): c for a, i, c in cells.rows()} == want_cells
    assert cells.height == len(want_cells)


def _run(batches: list[list[list]], remove: int | None, d: Path) -> Path:
    toml = write_toml(d / "m.toml", UNIT_TOML)
    root = d / "store"
    Store(root)
    load_zones(root, _zones_file(d / "sq.geojson"), "squares", id_field="id")
    ids = []
    for i, rows in enumerate(batches):
        f = write_csv(d / f"part{i}.csv", UNIT_HEADER, rows)
        rep = ingest(f, load_profile(toml), data_dir=root)
        ids.extend(x.batch_id for x in rep.files if x.batch_id)
    if remove is not None and ids:
        remove_batches([ids[remove % len(ids)]], data_dir=root)
    return root


row_spec = st.tuples(
    st.integers(0, 5),  # incident: few, so later batches touch earlier incidents
    st.sampled_from(["M1", "E1"]),  # the same unit again: another assignment or a supersede
    st.integers(0, 40),
    st.integers(0, len(POINTS) - 1),
    st.booleans(),
)


@pytest.mark.slow  # ~2 min: several ingests per example
@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(row_spec, min_size=1, max_size=16),
    st.lists(st.integers(0, 16), min_size=1, max_size=7),
    st.one_of(st.none(), st.integers(0, 7)),
    st.sampled_from([1, 2, 16]),
)
def test_incremental_equals_full_rebuild(specs, cuts, remove, max_parts):
    """Up to 8 batches and a removal; the assignment tables may hold at most ``max_parts``
    parts (1 or 2: folds happen along the way), then are folded by `compact`."""
    rows = [_row(*s) for s in specs]
    bounds = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    batches = [rows[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if rows[a:b]]
    real = parts_mod.MAX_PARTS
    parts_mod.MAX_PARTS = max_parts
    try:
        with tempfile.TemporaryDirectory() as d:
            root = _run(batches, remove, Path(d))
            _check_store(root)
            _check_parts_disjoint(root)
            store = Store(root, create=False)
            before = store.sql(INC_COLS.format("incidents"))
            zones = store.sql("select * from incident_zones order by all")
            with store.write_lock():
                store.compact_derived()
            parts_mod.fold_assignment(root)
            assert len(store.derived_parts()) == 1
            assert store.sql(INC_COLS.format("incidents")).equals(before)
            assert store.sql("select * from incident_zones order by all").equals(zones)
            assert all(parts_mod.part_rows(p) == 0 for p in _part_files(root))
            _check_store(root)
    finally:
        parts_mod.MAX_PARTS = real


def _is_part(p: Path) -> bool:
    return re.search(r"\.p\d{5}\.parquet$", p.name) is not None


def _part_files(root: Path) -> list[Path]:
    sp = root / "spatial"
    return sorted(sp.glob("incident_zones/*.p*.parquet")) + sorted(
        sp.glob("incident_cells.p*.parquet")
    )


def _check_parts_disjoint(root: Path) -> None:
    """No key in two files of one assignment table (the views are plain unions)."""
    sp = root / "spatial"
    tables = [*sorted(sp.glob("incident_zones/*.*.parquet")), sp / "incident_cells.parquet"]
    for base in tables:
        if _is_part(base) or not base.is_file():
            continue
        files = parts_mod.table_files(base)
        keys = pl.concat([pl.read_parquet(f, columns=["agency", "incident_id"]) for f in files])
        assert not keys.is_duplicated().any(), base.name


def test_incremental_fixed_example(tmp_path):
    """A supersede (E1 of I0 arrives in batch 2), a repeated unit (M1 twice on I1 in one
    batch: two assignments, the first superseding batch 1's), a
    relocated incident (I2 moves zone), a removed batch: parts, mask and assignment agree
    with the full computation; the last ingest adds one part."""
    b1 = [_row(0, "E1", 1, 0, False), _row(1, "M1", 2, 1, True), _row(2, "M1", 3, 0, True)]
    b2 = [_row(0, "E1", 1, 0, True), _row(1, "M1", 9, 1, True), _row(1, "M1", 20, 1, True)]
    b2.append(_row(3, "E1", 4, 3, True))
    b3 = [_row(2, "E1", 1, 1, True), _row(4, "E1", 5, 2, True)]
    root = _run([b1, b2, b3], None, tmp_path)
    _check_store(root)
    store = Store(root, create=False)
    assert len(store.derived_parts()) == 4  # the empty full build + one part per ingest
    inc = store.sql("select incident_id, units_on_scene, assignments from incidents")
    assert dict(zip(inc["incident_id"], inc["units_on_scene"], strict=True))["I0"] == 1
    assert dict(zip(inc["incident_id"], inc["assignments"], strict=True))["I1"] == 2
    zone = store.sql("select zone_id from incident_zones where incident_id = 'I2'").item()
    assert zone == "B"  # E1 arrived first (minute 1) at the B point
    # remove batch 2: I3 is gone from every table, I0 back to no arrival
    log = store.ingest_log()
    remove_batches([log["batch_id"][1]], data_dir=root)
    _check_store(root)
    ids = set(store.sql("select incident_id from incident_zones")["incident_id"])
    assert "I3" not in ids and "I0" in ids


def test_a_batch_links_the_untouched_parts_and_recomputes_only_its_incidents(tmp_path, monkeypatch):
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    big = [_row(i, "M1", i % 40, i % 3, True) for i in range(200)]
    ingest(write_csv(tmp_path / "a.csv", UNIT_HEADER, big), load_profile(toml), data_dir=root)
    store = Store(root, create=False)
    with store.write_lock():
        store.compact_derived()
    (part0,) = store.derived_parts()
    ino = part0.stat().st_ino
    # the batch: 3 new incidents and one of the 200 superseded
    small = [_row(i, "E1", 7, 1, True) for i in (500, 501, 502)] + [_row(5, "M1", 5, 2, False)]
    points: list[int] = []
    import dispatch_analytics.spatial.changed as assign_mod

    real = assign_mod.assign_point_index
    monkeypatch.setattr(
        assign_mod,
        "assign_point_index",
        lambda lon, lat, geoms: points.append(len(lon)) or real(lon, lat, geoms),
    )
    load_zones(root, _zones_file(tmp_path / "sq.geojson"), "squares", id_field="id")
    points.clear()
    ingest(write_csv(tmp_path / "b.csv", UNIT_HEADER, small), load_profile(toml), data_dir=root)
    parts = store.derived_parts()
    assert len(parts) == 2
    assert parts[0].stat().st_ino == ino  # hard-linked, not rewritten
    assert pl.read_parquet(parts[1]).height == 4  # only the touched incidents
    assert points == [4]  # only the changed incidents were located
    _check_store(root)


@pytest.mark.slow  # several ingests; fast: test_a_batch_links_the_untouched_parts_and_recomputes_only_its_incidents
def test_a_batch_adds_an_assignment_part_and_keeps_the_untouched_files(tmp_path):
    """A batch of new incidents writes one part per assignment table with only its
    incidents; part 0 keeps its inode. A supersede of one of them rewrites that small part
    (not part 0); a removal drops the rows from the parts holding them."""
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    Store(root)
    load_zones(root, _zones_file(tmp_path / "sq.geojson"), "squares", id_field="id")
    big = [_row(i, "M1", i % 40, i % 4, True) for i in range(100)]
    ingest(write_csv(tmp_path / "a.csv", UNIT_HEADER, big), load_profile(toml), data_dir=root)
    sp = root / "spatial"
    (zbase,) = [p for p in sp.glob("incident_zones/squares.*.parquet") if not _is_part(p)]
    cbase = sp / "incident_cells.parquet"
    parts_mod.fold_assignment(root)  # part 0 holds the 100 incidents
    inodes = {p: p.stat().st_ino for p in (zbase, cbase)}
    new = [_row(i, "E1", 7, 1, True) for i in (500, 501, 502)]
    ingest(write_csv(tmp_path / "b.csv", UNIT_HEADER, new), load_profile(toml), data_dir=root)
    assert {p: p.stat().st_ino for p in (zbase, cbase)} == inodes  # not rewritten
    zparts = [p for p in parts_mod.table_files(zbase) if p != zbase and parts_mod.part_rows(p)]
    cparts = [p for p in parts_mod.table_files(cbase) if p != cbase and parts_mod.part_rows(p)]
    assert [sorted(pl.read_parquet(p)["incident_id"]) for p in zparts + cparts] == [
        ["I500", "I501", "I502"]
    ] * 2
    _check_store(root)
    _check_parts_disjoint(root)
    # I501 again (moved to the point in no zone): its part rewritten, part 0 untouched
    again = [_row(501, "E1", 7, 2, True), _row(501, "M1", 8, 2, True)]
    ingest(write_csv(tmp_path / "c.csv", UNIT_HEADER, again), load_profile(toml), data_dir=root)
    assert {p: p.stat().st_ino for p in (zbase, cbase)} == inodes
    _check_store(root)
    _check_parts_disjoint(root)
    remove_batches([Store(root).ingest_log()["batch_id"][1]], data_dir=root)
    _check_store(root)
    _check_parts_disjoint(root)
    ids = set(Store(root).sql("select incident_id from incident_zones")["incident_id"])
    assert "I500" not in ids and "I501" in ids


@pytest.mark.slow  # ingests up to the threshold; fast: test_parts_are_folded_back_when_numerous
def test_assignment_parts_fold_at_the_threshold(tmp_path, monkeypatch):
    monkeypatch.setattr(parts_mod, "MAX_PARTS", 2)
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    Store(root)
    load_zones(root, _zones_file(tmp_path / "sq.geojson"), "squares", id_field="id")
    full = []
    for i in range(6):
        f = write_csv(tmp_path / f"p{i}.csv", UNIT_HEADER, [_row(i, "M1", 3, i % 4, True)])
        ingest(f, load_profile(toml), data_dir=root)
        zdir = root / "spatial" / "incident_zones"
        (zb,) = [p for p in zdir.glob("squares.*.parquet") if not _is_part(p)]
        full.append(sum(1 for p in parts_mod.table_files(zb) if p != zb and parts_mod.part_rows(p)))
        _check_store(root)
        _check_parts_disjoint(root)
    assert max(full) <= 3 and 0 in full  # folded when a third part would hold rows
    # emptied parts stay (a reader may have listed them) until the grace period is over
    empties = [p for p in _part_files(root) if parts_mod.part_rows(p) == 0]
    assert empties
    assert parts_mod.clean_parts(root) == []
    assert sorted(parts_mod.clean_parts(root, grace_s=0)) == sorted(empties)
    _check_store(root)


@pytest.mark.parametrize(
    "stage",
    [  # one stage in `make test-fast`, the others slow (about 2 s each: two processes)
        pytest.param("assign.layer.fold.unstamped", marks=pytest.mark.slow),
        pytest.param("assign.layer.fold.emptied", marks=pytest.mark.slow),
        pytest.param("assign.cells.fold.emptied", marks=pytest.mark.slow),
        "assign.cells.fold.renamed",
    ],
)
def test_an_ingest_killed_while_folding_is_finished_by_the_next(tmp_path, stage):
    """kill -9 inside a fold: the assignment is never doubled (no key twice), and the next
    ingest (no stamp: every incident assigned again) leaves the full result."""
    import signal

    from dispatch_analytics.store.crash import CRASH_ENV, FOLD_STAGES

    assert stage in FOLD_STAGES
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    Store(root)
    load_zones(root, _zones_file(tmp_path / "sq.geojson"), "squares", id_field="id")
    for i in range(3):
        f = write_csv(tmp_path / f"p{i}.csv", UNIT_HEADER, [_row(i, "M1", 3, i % 4, True)])
        ingest(f, load_profile(toml), data_dir=root)
    f = write_csv(tmp_path / "k.csv", UNIT_HEADER, [_row(9, "M1", 3, 1, True)])
    code = (
        "from dispatch_analytics import ingest, load_profile\n"
        "import dispatch_analytics.store.assignment_parts as p\n"
        "p.MAX_PARTS = 1\n"
        f"ingest({str(f)!r}, load_profile({str(toml)!r}), data_dir={str(root)!r})\n"
    )
    env = {**os.environ, CRASH_ENV: stage, "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == -signal.SIGKILL, out.stderr
    _check_parts_disjoint(root)
    zones = Store(root).sql("select agency, incident_id from incident_zones")
    assert not zones.is_duplicated().any()
    g = write_csv(tmp_path / "n.csv", UNIT_HEADER, [_row(10, "M1", 3, 0, True)])
    ingest(g, load_profile(toml), data_dir=root)
    _check_store(root)
    _check_parts_disjoint(root)


def test_parts_are_folded_back_when_numerous(tmp_path, monkeypatch):
    monkeypatch.setattr(derived_mod, "MAX_PARTS", 3)
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    counts = []
    for i in range(5):
        f = write_csv(tmp_path / f"p{i}.csv", UNIT_HEADER, [_row(i, "M1", 3, 0, True)])
        ingest(f, load_profile(toml), data_dir=root, h3_resolution=None)
        counts.append(len(Store(root, create=False).derived_parts()))
    assert counts == [2, 3, 1, 2, 3]  # 3 parts: the next ingest folds them into one
    assert Store(root, create=False).sql("select count(*) from incidents").item() == 5


def test_duplicates_are_looked_up_by_hash_not_loaded(tmp_path, monkeypatch):
    """The stored hashes are only read through a semi-join on the chunk's hashes."""
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    rows = [_row(i, "M1", 3, 0, True) for i in range(10)]
    ingest(write_csv(tmp_path / "a.csv", UNIT_HEADER, rows), load_profile(toml), data_dir=root)
    calls = []
    real = Store.seen_rows

    def spy(self, exclude=None, hashes=None, files=None):
        calls.append(None if hashes is None else len(hashes))
        return real(self, exclude, hashes, files)

    monkeypatch.setattr(Store, "seen_rows", spy)
    again = rows[:3] + [_row(20, "M1", 3, 0, True)]
    rep = ingest(write_csv(tmp_path / "b.csv", UNIT_HEADER, again), load_profile(toml), root)
    assert calls == [4]  # one lookup of the chunk's 4 hashes
    assert rep.rows_accepted == 1 and rep.files[0].rejects_by_reason == {"duplicate_row": 3}
    store = Store(root, create=False)
    hits = store.seen_rows(hashes=store.sql("select row_hash from responses_all")["row_hash"][:2])
    assert hits.height == 2
    assert store.seen_rows(hashes=pl.Series([], dtype=pl.UInt64)).height == 0


def test_the_ingest_path_imports_no_pandas(tmp_path):
    """`dispatch ingest` into a store with a zone layer imports neither pandas nor GeoPandas."""
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    Store(root)
    load_zones(root, _zones_file(tmp_path / "sq.geojson"), "squares", id_field="id")
    f = write_csv(
        tmp_path / "a.csv", UNIT_HEADER, [_row(i, "M1", 3, i % 3, True) for i in range(9)]
    )
    code = (
        "import sys\n"
        "from dispatch_analytics import ingest, load_profile\n"
        f"r = ingest({str(f)!r}, load_profile({str(toml)!r}), data_dir={str(root)!r})\n"
        "assert r.rows_accepted == 9, r\n"
        "print(sorted(m for m in ('pandas', 'geopandas') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    _check_store(root)


def test_cells_of_every_incident_once_a_resolution_is_given(tmp_path):
    """Ingests without cells, then one with: every incident gets a cell, not only the new."""
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    root = tmp_path / "store"
    Store(root)
    load_zones(root, _zones_file(tmp_path / "sq.geojson"), "squares", id_field="id")
    a = write_csv(
        tmp_path / "a.csv", UNIT_HEADER, [_row(i, "M1", 3, i % 4, True) for i in range(4)]
    )
    ingest(a, load_profile(toml), data_dir=root, h3_resolution=None)
    assert Store(root).sql("select count(*) from incident_cells").item() == 0
    b = write_csv(tmp_path / "b.csv", UNIT_HEADER, [_row(9, "E1", 3, 0, True)])
    ingest(b, load_profile(toml), data_dir=root, h3_resolution=8)
    _check_store(root)  # five incidents, five cells (one null: no coordinates)


def test_a_units_tied_rows_give_one_first_due_station_whatever_the_row_order(tmp_path):
    """One unit twice on an incident with the same dispatch and arrival times but other
    stations: the incident's station and first-arriving row are those of the unit's first
    assignment (numbered by the content, never the row order), in the derived table, in the
    live computation and after a full rebuild. Before the tie-break either row could win."""
    toml = UNIT_TOML.replace('longitude = "Lon"', 'longitude = "Lon"\nstation_id = "Station"')
    mapping = write_toml(tmp_path / "m.toml", toml)
    rows = [
        [*unit_row(inc="T1", unit="E1", clr="01/15/2024 10:40:00"), "S7"],
        [*unit_row(inc="T1", unit="E1", clr="01/15/2024 10:55:00"), "S3"],
        [*unit_row(inc="T2", unit="M2"), "S1"],
    ]
    seen = set()
    for k, order in enumerate((rows, rows[::-1])):
        csv_path = write_csv(tmp_path / f"t{k}.csv", [*UNIT_HEADER, "Station"], order)
        root = tmp_path / f"store{k}"
        ingest(csv_path, load_profile(mapping), data_dir=root)
        store = Store(root, create=False)
        first = store.sql(
            "select station_id from responses where incident_id = 'T1' and assignment = 1"
        ).item()
        q = "select station_id, first_arriving_unit from {} where incident_id = 'T1'"
        derived = store.sql(q.format("incidents")).row(0)
        live = store.sql(q.format("incidents_live")).row(0)
        with store.write_lock():
            store.refresh_derived(full=True)
        rebuilt = store.sql(q.format("incidents")).row(0)
        assert derived == live == rebuilt == (first, "E1")
        seen.add(first)
    assert len(seen) == 1  # the row order in the file did not decide
