"""The package as users install it: build the wheel, install it (not editable) in a fresh venv,
and run the commands that need package data (SQL, profiles, standards) on the sample data.

Offline: the fresh venv gets the already-installed dependencies through a ``.pth`` file and
the wheel with ``pip install --no-index --no-deps``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CITY = ROOT / "sample_data" / "city"


def run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPATCH_DATA_DIR")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for pkg in ("dispatch_analytics", "dash_app"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    r = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["--disable-pip-version-check", "-w", str(dist), str(src)],
        cwd=src,
    )
    assert r.returncode == 0, r.stderr
    (whl,) = dist.glob("dispatch_analytics-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("venv")
    r = run([sys.executable, "-m", "venv", str(env)], cwd=env)
    assert r.returncode == 0, r.stderr
    (pth_dir,) = (env / "lib").glob("python3*/site-packages")
    # the dependencies, from the test environment (no download); not our package: its
    # editable hook is a .pth file of that folder, which a plain path entry does not run
    (pth_dir / "_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    r = run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        + ["--disable-pip-version-check", str(wheel)],
        cwd=env,
    )
    assert r.returncode == 0, r.stderr
    return env


def test_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in (
        "dispatch_analytics/sql/_macros.sql",
        "dispatch_analytics/sql/fractile_compliance.sql",
        "dispatch_analytics/ingest/builtin_profiles/sffd.toml",
        "dispatch_analytics/metrics/builtin_standards/nfpa1710.toml",
        "dispatch_analytics/py.typed",
        "dash_app/cli.py",
    ):
        assert must in names, must
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "dispatch = dispatch_analytics.cli:main" in text
    assert "serve = dash_app.cli:register" in text


def test_installed_wheel_runs_every_step(venv, tmp_path):
    py = str(venv / "bin" / "python")
    dispatch = str(venv / "bin" / "dispatch")
    where = run([py, "-c", "import dispatch_analytics as d; print(d.__file__)"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the repo
    data = tmp_path / "store"

    def ok(*args: str) -> str:
        r = run([dispatch, *args, "--data-dir", str(data)], cwd=tmp_path)
        assert r.returncode == 0, f"dispatch {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr
        return r.stdout

    ok("ingest", str(CITY / "sample_city.csv"), "--mapping", str(CITY / "sample_city.toml"))
    ok(
        "zones",
        "load",
        str(CITY / "station_areas.geojson"),
        "--layer",
        "station_areas",
        "--id-field",
        "station_id",
    )
    rows = json.loads(
        ok(
            "query",
            "fractile_compliance",
            "-p",
            "metric=total_response",
            "-p",
            "layer=station_areas",
            "-p",
            "target_s=480",
            "-f",
            "json",
        )
    )
    assert len(rows) >= 12 and all("p90_s" in r for r in rows)
    report = json.loads(ok("report", "--profile", "nfpa1710", "-f", "json"))
    assert report["table"], report.keys()
    help_text = run([dispatch, "--help"], cwd=tmp_path).stdout
    assert "serve" in help_text.split("Commands:")[1]


def test_missing_package_sql_fails_loudly(venv, tmp_path):
    (sql_dir,) = (venv / "lib").glob("python3*/site-packages/dispatch_analytics/sql")
    moved = tmp_path / "_macros.sql"
    shutil.move(sql_dir / "_macros.sql", moved)
    try:
        r = run(
            [str(venv / "bin" / "dispatch"), "ingest", str(CITY / "sample_city.csv")]
            + ["--mapping", str(CITY / "sample_city.toml"), "--data-dir", str(tmp_path / "s")],
            cwd=tmp_path,
        )
    finally:
        shutil.move(moved, sql_dir / "_macros.sql")
    assert r.returncode == 1
    assert "_macros.sql is missing" in r.stderr and "reinstall" in r.stderr
    assert "Traceback" not in r.stderr
