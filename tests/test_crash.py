"""kill -9 at every stage of every writer leaves a consistent store (issue 8, item 2).

For each writer of the command line and each of its crash-hook stages
(:data:`dispatch_analytics.store.crash.WRITER_STAGES`) the real CLI runs in a subprocess with
``DISPATCH_CRASH_AT=<stage>`` and must die by SIGKILL. The store left behind must then be
consistent and be either the state before the command or the state after it (compared with
both, computed here by running the command without the hook), and after the next command
(the same command again; a no-op ingest after ``batches remove``) it must be complete: every
located incident assigned (checked against a brute-force point-in-polygon with shapely), no
debris. One stage per writer runs in the fast suite; the whole matrix is marked ``slow``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import shapely

from dispatch_analytics import Store
from dispatch_analytics.sample.city import generate_city
from dispatch_analytics.spatial.layers import list_layers, read_layer
from dispatch_analytics.store.crash import CRASH_ENV, WRITER_STAGES, crash_point
from dispatch_analytics.store.spatial_tables import (
    incident_zones_dir,
    layer_generations,
    parse_incident_zones_name,
)

#: the stage of each writer run in the fast suite (the one most likely to expose a mix)
FAST = {
    "ingest": "ingest.published",
    "ingest_replace": "purge.renamed",
    "batches_remove": "derived.swapped",
    "zones_load": "zones.layer.renamed",
    "stations_load": "stations.file.written",
    "units_load": "units.file.written",
    "units_derive": "units.file.begin",
    "compact": "compact.published",
}


# The commands run in processes forked from one pre-imported server (``_FORK_SERVER``): each
# step is still a separate process that runs the real CLI (``main(argv)``) and, with the hook
# set, kills itself with SIGKILL at its stage, but it does not pay the package's import
# (~1 s of CPU per step, ~40 steps in the fast suite). The server imports only: no DuckDB
# connection and no Polars work happens before a fork, so their worker pools start in the
# child (a pool started before a fork would deadlock it). The threads that importing starts
# (jemalloc's background purgers, Polars' spill-file cleaner, an OpenBLAS worker: 7 in all,
# read from /proc) are fork-safe (atfork handlers) or unused by a command. One case
# (``FRESH``) kills a ``python -m dispatch_analytics.cli`` in a new interpreter instead.
_FORK_SERVER = r"""
import json, os, sys
import dispatch_analytics.cli as cli
import dispatch_analytics.api, dispatch_analytics.store.compact, dispatch_analytics.store.removal
import dispatch_analytics.spatial.zones, dispatch_analytics.spatial.stations
import dispatch_analytics.spatial.units, dispatch_analytics.io.vector
import geopandas, pyogrio, pyproj, shapely, pyarrow.parquet  # what the spatial loaders use
cli._command()  # the click command tree (pure Python), built once for every child
proto = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
for line in sys.stdin:
    job = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush(); proto.flush()
    pid = os.fork()
    if pid == 0:
        try:
            for k, v in job["env"].items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            fd_out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fd_err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd_out, 1); os.dup2(fd_err, 2)
            code = cli.main(job["argv"])
            sys.stdout.flush(); sys.stderr.flush()
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            code = 99
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    proto.write(json.dumps({"rc": rc}) + "\n"); proto.flush()
"""


class _Forks:
    """The pre-imported server; :meth:`run` forks one child per command."""

    def __init__(self, tmp: Path):
        self.tmp, self.n = tmp, 0
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != CRASH_ENV},
        )

    def run(self, args: list[str], env: dict) -> subprocess.CompletedProcess:
        self.n += 1
        out, err = self.tmp / f"{self.n}.out", self.tmp / f"{self.n}.err"
        job = {"argv": args, "env": {CRASH_ENV: None, **env}, "out": str(out), "err": str(err)}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the fork server died (exit {self.proc.poll()})"
        rc = json.loads(line)["rc"]
        return subprocess.CompletedProcess(args, rc, out.read_text(), err.read_text())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


_SERVER: list[_Forks] = []


@pytest.fixture(scope="module", autouse=True)
def _fork_server(tmp_path_factory):
    _SERVER.append(_Forks(tmp_path_factory.mktemp("forks")))
    yield
    _SERVER.pop().close()


def _dispatch(
    *args: str, env: dict | None = None, fresh: bool = False
) -> subprocess.CompletedProcess:
    """Run ``dispatch ARGS`` in a separate process: a child forked from the pre-imported
    server, or (``fresh``) a new interpreter."""
    if fresh or not _SERVER:
        return subprocess.run(
            [sys.executable, "-m", "dispatch_analytics.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=600,
        )
    return _SERVER[-1].run(list(args), env or {})


def _ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stdout + r.stderr


# ----------------------------------------------------------------------------- the inputs
@dataclass
class Inputs:
    a: Path  # ingested with the wrong mapping in the base store
    b: Path
    c: Path  # not in the base store
    good: Path
    bad: Path
    station_areas: Path
    battalions: Path
    stations: Path
    stations2: Path
    units: Path
    units2: Path


def _split(csv_path: Path, out: Path) -> list[Path]:
    lines = csv_path.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    ids = sorted({r.split(",")[0] for r in rows})
    thirds = [set(ids[i::3]) for i in range(3)]
    files = []
    for name, part in zip("abc", thirds, strict=True):
        p = out / f"{name}.csv"
        p.write_text("\n".join([header, *[r for r in rows if r.split(",")[0] in part]]) + "\n")
        files.append(p)
    return files


def _write_units(path: Path, stations: list[dict], skip: int = 0) -> Path:
    kinds = {"E": "ENGINE", "M": "MEDIC", "T": "TRUCK", "B": "CHIEF"}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit_id", "station_id", "unit_type"])
        for f in stations[skip:]:
            p = f["properties"]
            for u in p["units"].split(","):
                w.writerow([u, p["station_id"], kinds.get(u[0], "OTHER")])
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    root = tmp_path_factory.mktemp("crash")
    city = generate_city(root / "city", n_incidents=120, seed=21)
    a, b, c = _split(city.incidents_csv, root)
    bad = root / "bad.toml"
    bad.write_text(city.mapping_toml.read_text().replace('priority = "PRI"', 'priority = "NATURE"'))
    stations = json.loads(city.stations_geojson.read_text())
    units = _write_units(root / "units.csv", stations["features"])
    units2 = _write_units(root / "units2.csv", stations["features"], skip=3)
    fewer = dict(stations, features=stations["features"][2:])
    stations2 = root / "stations2.geojson"
    stations2.write_text(json.dumps(fewer))
    return Inputs(
        a,
        b,
        c,
        city.mapping_toml,
        bad,
        city.station_areas_geojson,
        city.battalions_geojson,
        city.stations_geojson,
        stations2,
        units,
        units2,
    )


@pytest.fixture(scope="module")
def base(inputs, tmp_path_factory) -> Path:
    """A store holding batches a (wrong mapping) and b, two zone layers, stations, units."""
    d = str(tmp_path_factory.mktemp("base") / "store")
    i = inputs
    _ok(_dispatch("ingest", str(i.a), "-m", str(i.bad), "--data-dir", d))
    _ok(_dispatch("ingest", str(i.b), "-m", str(i.good), "--data-dir", d))
    for layer, path, field in (
        ("station_areas", i.station_areas, "station_id"),
        ("battalions", i.battalions, "battalion_id"),
    ):
        _ok(
            _dispatch(
                "zones", "load", str(path), "--layer", layer, "--id-field", field, "--data-dir", d
            )
        )
    _ok(_dispatch("stations", "load", str(i.stations), "--id-field", "station_id", "--data-dir", d))
    _ok(_dispatch("units", "load", str(i.units), "--data-dir", d))
    return Path(d)


def _batch_of(root: Path, name: str) -> str:
    log = Store(root).ingest_log()
    return log.filter(pl.col("source").str.ends_with(name))["batch_id"][0]


def _command(writer: str, i: Inputs, root: Path) -> list[str]:
    d = ["--data-dir", str(root)]
    return {
        "ingest": ["ingest", str(i.c), "-m", str(i.good), *d],
        "ingest_replace": ["ingest", str(i.a), "-m", str(i.good), "--replace", *d],
        "batches_remove": ["batches", "remove", _batch_of(root, "b.csv"), "--yes", *d],
        # other zone ids: the old ones must never be pointed at once the layer is swapped
        "zones_load": [
            "zones",
            "load",
            str(i.battalions),
            *"--layer station_areas --id-field battalion_id".split(),
            *d,
        ],
        "stations_load": ["stations", "load", str(i.stations2), "--id-field", "station_id", *d],
        # grace 0: the replaced folders are deleted at once (the purge stages are reached)
        "compact": ["compact", "--grace-s", "0", "--min-batches", "1", *d],
        "units_load": ["units", "load", str(i.units2), *d],
        "units_derive": [
            "units",
            "derive",
            "--regex",
            r"(\d+)$",
            *"--zero-pad 2 --prefix S".split(),
            *d,
        ],
    }[writer]


def _next_command(writer: str, i: Inputs, root: Path) -> list[str]:
    """What the operator runs next: the same command again (after `batches remove`, whose
    retry is refused once the batch is gone, an ingest of a file stored already)."""
    if writer == "batches_remove":
        return ["ingest", str(i.a), "-m", str(i.bad), "--data-dir", str(root)]
    return _command(writer, i, root)


# ------------------------------------------------------------------------- the checks
def _digest(df: pl.DataFrame) -> str:
    df = df.sort(df.columns, nulls_last=True)
    return hashlib.sha256(df.write_csv().encode()).hexdigest()[:16]


def _frames(root: Path) -> dict[str, pl.DataFrame]:
    st = Store(root, create=False)
    q = st.sql
    inc = q("select * from incidents")
    return {
        "log": q(
            "select regexp_extract(source, '[^/]+$') as file, file_sha256, profile_sha256, "
            "rows_read, rows_accepted, rows_rejected, incidents from ingest_log"
        ),
        "responses": q("select * exclude (batch_id) from responses_all"),
        "rejects": q("select * exclude (batch_id) from rejects"),
        "incidents": inc.drop([c for c in inc.columns if "batch" in c]),
        "zones": q("select layer, agency, zone_id, name, round(area_km2, 6) as a from zones"),
        "stations": q("select * from stations"),
        "units": q("select * from units"),
        "incident_zones": q("select * from incident_zones"),
        "incident_cells": q("select * from incident_cells"),
    }


_ASSIGNMENT = ("incident_zones", "incident_cells")


def _state(root: Path, writer: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(fingerprint of the data, fingerprint of the zone / H3 assignment); for `compact`,
    whose data is the same before and after, the data's layout too (batch folders and
    compacted files the views read)."""
    fr = _frames(root)
    core = {k: _digest(v) for k, v in fr.items() if k not in _ASSIGNMENT}
    if writer == "compact":
        lay = Store(root, create=False).layout()
        files = sorted(f.name for fs in lay.compacted.values() for f in fs)
        core["layout"] = f"{len(lay.originals)} folders; " + ", ".join(files)
    return core, {k: _digest(fr[k]) for k in _ASSIGNMENT}


def check_consistent(root: Path) -> None:
    """What must hold at every moment, killed writer or not."""
    st = Store(root, create=False)
    log = st.sql("select * from ingest_log")
    assert (log["rows_read"] == log["rows_accepted"] + log["rows_rejected"]).all()
    n = st.sql(
        "select (select count(*) from responses_all) as acc, (select count(*) from rejects) "
        "as rej, (select count(*) from incidents) as inc"
    ).row(0, named=True)
    assert n["acc"] == log["rows_accepted"].sum() and n["rej"] == log["rows_rejected"].sum()
    # incidents (derived table + live part) == incidents recomputed from the visible rows
    inc = st.sql("select * from incidents")
    live = st.sql("select * from incidents_live")
    assert _digest(inc.select(live.columns)) == _digest(live)
    # ... and their keys are the keys of the visible unit rows (pandas, independently)
    rows = st.sql("select agency, incident_id from responses").to_pandas()
    keys = set(map(tuple, rows.drop_duplicates().to_numpy().tolist()))
    assert set(inc.select("agency", "incident_id").iter_rows()) == keys
    assert n["inc"] == len(keys)
    # every assigned zone exists in its layer; one row per incident and layer
    iz = st.sql("select * from incident_zones").to_pandas()
    zones = st.sql("select layer, zone_id from zones").to_pandas()
    known = set(map(tuple, zones.to_numpy().tolist()))
    assigned = iz[iz["zone_id"].notna()]
    dangling = {(la, z) for la, z in zip(assigned["layer"], assigned["zone_id"], strict=True)}
    assert dangling <= known, f"incidents point at zones that do not exist: {dangling - known}"
    assert not iz.duplicated(["agency", "incident_id", "layer"]).any()
    assert set(iz["layer"]) <= set(zones["layer"])


def _brute_force_zone(zones, lon: float, lat: float) -> str | None:
    for zid, geom in zip(zones["zone_id"], zones.geometry, strict=True):
        if shapely.intersects_xy(geom, lon, lat):
            return str(zid)
    return None


def check_complete(root: Path) -> None:
    """After the next command: every located incident of every layer assigned (the zone
    found by brute force) or outside, every incident in an H3 cell, no debris."""
    check_consistent(root)
    st = Store(root, create=False)
    inc = st.sql("select agency, incident_id, latitude, longitude from incidents")
    iz = st.sql("select * from incident_zones")
    for layer in list_layers(root):
        zones = read_layer(root, layer)
        got = dict(
            ((a, i), z)
            for a, i, la, z in iz.select("agency", "incident_id", "layer", "zone_id").iter_rows()
            if la == layer
        )
        for a, i, lat, lon in inc.iter_rows():
            if lat is None or lon is None:
                continue
            assert (a, i) in got, f"incident {i} has no assignment in layer {layer!r}"
            assert got[(a, i)] == _brute_force_zone(zones, lon, lat), (layer, i)
    cells = st.sql("select agency, incident_id from incident_cells")
    assert set(cells.iter_rows()) == set(inc.select("agency", "incident_id").iter_rows())
    check_no_debris(root)


def check_no_debris(root: Path) -> None:
    leftovers = [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith((".catalog-", ".current-"))
    ]
    assert not leftovers, leftovers
    tmp = root / "lake" / "_tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), list(tmp.iterdir())
    derived = [d for d in (root / "lake/derived").iterdir() if not d.is_symlink()]
    assert len(derived) <= 2, derived  # the current table and the one before it
    st = Store(root, create=False)
    assert not (st.removed_batches() & {d.name for d in st.batches_dir.iterdir()})
    assert not st.layout().stale, "folders / files replaced by compaction left behind"
    gens = layer_generations(root)
    for p in incident_zones_dir(root).glob("*.parquet"):
        parsed = parse_incident_zones_name(p.name)
        if parsed is not None:
            layer, gen = parsed
            assert gens.get(layer, -1) == gen, f"stale assignment file {p.name}"


# ---------------------------------------------------------------------- the reference
@pytest.fixture(scope="module")
def states(inputs, base, tmp_path_factory):
    """``states(writer)``: (old state, new state) from a run without the hook (cached)."""
    cache: dict[str, tuple] = {}

    def get(writer: str) -> tuple:
        if writer not in cache:
            root = tmp_path_factory.mktemp(f"new-{writer}") / "store"
            shutil.copytree(base, root, symlinks=True)
            _ok(_dispatch(*_command(writer, inputs, root)))
            check_complete(root)
            old, new = _state(base, writer), _state(root, writer)
            assert new != old, f"{writer} changed nothing: the test would prove nothing"
            cache[writer] = (old, new)
        return cache[writer]

    return get


#: the case whose killed command runs in a new interpreter (`python -m dispatch_analytics.cli`)
FRESH = ("ingest", "ingest.published")

SPATIAL_ONLY = {"zones_load", "stations_load", "units_load", "units_derive", "compact"}


def _run_matrix_case(writer, stage, inputs, base, states, tmp_path) -> None:
    root = tmp_path / "store"
    shutil.copytree(base, root, symlinks=True)
    (old, new) = states(writer)
    fresh = (writer, stage) == FRESH
    killed = _dispatch(*_command(writer, inputs, root), env={CRASH_ENV: stage}, fresh=fresh)
    assert killed.returncode == -signal.SIGKILL, (
        f"stage {stage!r} was not reached (exit {killed.returncode}): {killed.stderr}"
    )
    check_consistent(root)
    core, assignment = _state(root, writer)
    assert core in (old[0], new[0]), "neither the old nor the new data"
    if writer in SPATIAL_ONLY:  # no batch changes: the assignment is part of the one step
        assert (core, assignment) in (old, new), "neither the old nor the new state"
    if writer == "zones_load":  # the reported bug: no incident in a zone that is gone
        assert core == new[0] or assignment == old[1]
    after = _dispatch(*_next_command(writer, inputs, root))
    _ok(after)
    check_complete(root)
    expect = new if (writer != "batches_remove" or core == new[0]) else old
    assert _state(root, writer) == expect, "the next command did not finish the interrupted one"


CASES = [(w, s) for w, stages in WRITER_STAGES.items() for s in stages]


#: The writers whose stage runs in ``make test-fast`` (one that publishes a batch, one that
#: rewrites files); the other writers' stages are ``slow`` (about 3 s each: a command killed
#: and the next one run, each a process).
QUICK = ("ingest", "compact")


@pytest.mark.parametrize(
    ("writer", "stage"),
    [
        pytest.param(w, s, id=s, marks=() if w in QUICK else pytest.mark.slow)
        for w, s in FAST.items()
    ],
)
def test_kill_at_one_stage_per_writer(writer, stage, inputs, base, states, tmp_path):
    assert stage in WRITER_STAGES[writer]
    _run_matrix_case(writer, stage, inputs, base, states, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("writer", "stage"), CASES, ids=[f"{w}-{s}" for w, s in CASES])
def test_kill_matrix(writer, stage, inputs, base, states, tmp_path):
    if FAST.get(writer) == stage:
        pytest.skip("run by test_kill_at_one_stage_per_writer")
    _run_matrix_case(writer, stage, inputs, base, states, tmp_path)


# ----------------------------------------------------------------------- unit checks
def test_crash_point_is_inert_unless_named(monkeypatch):
    monkeypatch.delenv(CRASH_ENV, raising=False)
    crash_point("ingest.published")  # no hook set: nothing happens
    monkeypatch.setenv(CRASH_ENV, "some.other.stage")
    crash_point("ingest.published")


def test_every_stage_name_is_unique_per_writer():
    for writer, stages in WRITER_STAGES.items():
        assert len(stages) == len(set(stages)), writer
    assert set(FAST) == set(WRITER_STAGES)


def test_stale_zone_assignment_is_invisible(inputs, base, tmp_path):
    """An assignment file of another generation (a zones load killed before its swap)
    shows nothing; the next writer deletes it."""
    root = tmp_path / "store"
    shutil.copytree(base, root, symlinks=True)
    st = Store(root)
    before = _digest(st.sql("select * from incident_zones"))
    src = next(incident_zones_dir(root).glob("station_areas.*.parquet"))
    bogus = pl.read_parquet(src).with_columns(
        pl.lit("nowhere").alias("zone_id"), pl.lit(1, pl.Int64).alias("generation")
    )
    bogus.write_parquet(incident_zones_dir(root) / "station_areas.1.parquet")
    assert _digest(st.sql("select * from incident_zones")) == before
    check_consistent(root)
    _ok(_dispatch("units", "load", str(inputs.units), "--data-dir", str(root)))  # any writer
    assert not (incident_zones_dir(root) / "station_areas.1.parquet").exists()
    assert _digest(st.sql("select * from incident_zones")) == before
