"""The store's files are private, odd data-dir paths work, and two first ingests at once into
a fresh data dir both finish (store set-up runs under a lock)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dispatch_analytics import Store, ingest, load_profile
from dispatch_analytics.errors import StoreError
from dispatch_analytics.sample.city import generate_city
from dispatch_analytics.store.permissions import dir_mode, file_mode


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return generate_city(tmp_path_factory.mktemp("safety") / "city", n_incidents=80, seed=9)


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            out[str(p.relative_to(root))] = stat.S_IMODE(p.stat().st_mode)
    return out


def _dispatch(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "dispatch_analytics.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow  # three CLI processes; fast: test_file_mode_setting
def test_store_files_are_private_by_default(city, tmp_path):
    store = tmp_path / "store"
    old = os.umask(0o022)  # a permissive caller
    try:
        r = _dispatch(
            "ingest",
            str(city.incidents_csv),
            "-m",
            str(city.mapping_toml),
            "--data-dir",
            str(store),
        )
        assert r.returncode == 0, r.stderr
        r = _dispatch(
            "zones",
            "load",
            str(city.station_areas_geojson),
            "--layer",
            "station_areas",
            "--id-field",
            "station_id",
            "--data-dir",
            str(store),
        )
        assert r.returncode == 0, r.stderr
        out = tmp_path / "zones.geojson"
        r = _dispatch(
            "export",
            "zones",
            "--layer",
            "station_areas",
            "--out",
            str(out),
            "--data-dir",
            str(store),
        )
        assert r.returncode == 0, r.stderr
        # the library, called from Python by a permissive process, too
        ingest(city.incidents_csv, load_profile(city.mapping_toml), data_dir=tmp_path / "lib")
    finally:
        os.umask(old)
    for root in (store, tmp_path / "lib"):
        modes = _modes(root)
        assert any("batches" in k for k in modes) and "catalog.duckdb" in modes
        bad = {k: oct(m) for k, m in modes.items() if m & 0o077}
        assert not bad, bad
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.stat().st_mode) == 0o700


def test_file_mode_setting(monkeypatch):
    monkeypatch.setenv("DISPATCH_FILE_MODE", "640")
    assert file_mode() == 0o640 and dir_mode() == 0o750
    for bad in ("rw", "400", "1777"):
        monkeypatch.setenv("DISPATCH_FILE_MODE", bad)
        with pytest.raises(StoreError, match="`DISPATCH_FILE_MODE`.*e.g. 600"):
            file_mode()


@pytest.mark.parametrize(
    "name",
    [  # the last holds every character of the others: it runs fast, they are slow (an ingest each)
        *(pytest.param(n, marks=pytest.mark.slow) for n in ("runs[2024]", "a*b", "o'brien")),
        "all [*'] of them",
    ],
)
def test_data_dir_with_glob_characters(city, tmp_path, name):
    store = tmp_path / name / "store"
    rep = ingest(city.incidents_csv, load_profile(city.mapping_toml), data_dir=store)
    st = Store(store)
    n = st.sql("select count(*) as n from responses_all")["n"][0]
    assert n == rep.rows_accepted
    assert st.sql("select count(*) as n from ingest_log")["n"][0] == 1
    assert st.sql("select count(*) as n from incidents")["n"][0] == rep.files[0].incidents
    assert st.sql("select count(*) as n from zones")["n"][0] == 0
    assert (
        ingest(city.incidents_csv, load_profile(city.mapping_toml), data_dir=store).files[0].skipped
    )


def test_a_question_mark_in_the_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match=r"`\?` in its path.*--data-dir"):
        Store(tmp_path / "what?" / "store")


@pytest.mark.slow  # six racing CLI processes; fast: test_store.py's lock test
def test_two_first_ingests_into_a_fresh_data_dir(city, tmp_path):
    """Both succeed, or one is told another process is writing; never a traceback."""
    for attempt in range(3):
        store = tmp_path / f"fresh{attempt}"
        cmd = [
            "ingest",
            str(city.incidents_csv),
            "-m",
            str(city.mapping_toml),
            "--data-dir",
            str(store),
        ]
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _, cmd=cmd: _dispatch(*cmd), range(2)))
        for r in results:
            assert "Traceback" not in r.stderr, r.stderr
            assert r.returncode == 0 or "another process is writing" in r.stderr, r.stderr
        assert any(r.returncode == 0 for r in results)
        assert Store(store).sql("select count(*) as n from ingest_log")["n"][0] == 1
