"""A real PostgreSQL server for the feed tests: the pytest fixture over
:mod:`dispatch_analytics.feeds.pg_local` (``initdb`` + ``pg_ctl start`` in a temporary folder,
listening on a free loopback port, stopped and removed afterwards). ``make postgres`` installs
the binaries; CI runs that.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from dispatch_analytics.feeds.pg_local import PgServer, pg_bin_dir

__all__ = ["PgServer", "pg_bin_dir", "pg_server"]


@pytest.fixture(scope="module")
def pg_server():
    """A running PostgreSQL server for the tests of one module; skipped only when the
    PostgreSQL binaries are not installed (``make postgres`` installs them)."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (initdb / pg_ctl): run `make postgres`")
    root = Path(tempfile.mkdtemp(prefix="dispatch-pg-"))
    server = PgServer(bin_dir, root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
