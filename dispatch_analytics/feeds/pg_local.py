"""Start a throw-away local PostgreSQL for tests and benches: ``initdb`` + ``pg_ctl start`` in a
folder of the caller's, listening on a free loopback port, with fsync off (nothing in it is
meant to last). ``dispatch watch --database`` is tested and benchmarked against it; it is not
a way to run a production server.

The binaries come from Debian's ``postgresql`` package (``make postgres`` installs it). Debian
keeps ``initdb`` and ``pg_ctl`` in ``/usr/lib/postgresql/<major>/bin``, off the PATH, so both
places are searched. ``initdb`` refuses to run as root: as root the server runs as the
unprivileged user ``nobody`` (``runuser``), owning its data folder.

Used by ``tests/pg_server.py`` (the pytest fixture) and ``bench/bench_watch.py``; it lives in
the library, not in ``tests/``, so that the bench never imports from the tests.

Example
-------
>>> from dispatch_analytics.feeds.pg_local import PgServer, pg_bin_dir
>>> with PgServer(pg_bin_dir(), root) as pg:  # doctest: +SKIP
...     pg.psql("select 1;")
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import FeedError

__all__ = ["DEMO_CAD_COLUMNS", "DEMO_CAD_MAPPING", "DEMO_CAD_TABLE", "PgServer", "pg_bin_dir"]

#: A small CAD unit table, as a CAD vendor might lay it out, that the feed tests and
#: ``bench/bench_watch.py`` fill; ``updated_at`` is the watcher's cursor column.
DEMO_CAD_TABLE = (
    "create table cad_units (row_id serial primary key, incident_no text, unit text, "
    "nature text, pri text, received timestamp, dispatched timestamp, enroute timestamp, "
    "arrived timestamp, cleared timestamp, lat double precision, lon double precision, "
    "updated_at timestamp not null);"
)

#: The columns an ``insert into cad_units (...)`` names (all but the serial ``row_id``).
DEMO_CAD_COLUMNS = (
    "incident_no, unit, nature, pri, received, dispatched, enroute, arrived, cleared, lat, lon, "
    "updated_at"
)

#: The source mapping (a ``--mapping`` TOML) that reads :data:`DEMO_CAD_TABLE`.
DEMO_CAD_MAPPING = """\
[source]
name = "cad_pg"
grain = "unit"
timezone = "America/New_York"
crs = "EPSG:4326"

[columns]
incident_id = "incident_no"
unit_id = "unit"
call_type = "nature"
priority = "pri"
call_received_at = "received"
dispatched_at = "dispatched"
enroute_at = "enroute"
on_scene_at = "arrived"
cleared_at = "cleared"
latitude = "lat"
longitude = "lon"
"""

_USER = "nobody"


def pg_bin_dir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``psql``, or None when not installed."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(found[0]).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One running server; ``url`` connects as the superuser ``postgres`` (trust auth)."""

    bin_dir: Path
    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser:
                return [runuser, "-u", _USER, "--", *args]
            return ["su", "-s", "/bin/sh", _USER, "-c", " ".join(args)]
        return args

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        # cwd: the server's own folder (the unprivileged user may not read the caller's)
        return subprocess.run(
            self._as_owner(args),
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            cwd=self.root,
        )

    def start(self) -> PgServer:
        """initdb (once) and start on a free port; retried on a port taken meanwhile."""
        if os.geteuid() == 0:
            shutil.chown(self.root, user=_USER)
        if not self.data.exists():
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            )
        last = ""
        for _ in range(5):
            self.port = _free_port()
            opts = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off"
            )
            res = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    opts,
                    "start",
                ],
                check=False,
            )
            if res.returncode == 0:
                return self
            log = self.root / "server.log"
            last = res.stderr + (log.read_text() if log.exists() else "")
            time.sleep(0.5)
        raise FeedError(
            f"the local PostgreSQL server in {self.root} did not start after 5 tries; fix what "
            f"its log says (`{self.root / 'server.log'}`):\n{last}"
        )

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        self._run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            check=False,
        )

    def psql(self, sql: str) -> str:
        """Run SQL with ``psql`` (stops at the first error); the unaligned output."""
        res = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if res.returncode != 0:
            raise FeedError(f"`psql` on the local server failed; fix the SQL: {res.stderr.strip()}")
        return res.stdout
