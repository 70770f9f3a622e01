"""``dispatch serve``: registered on the ``dispatch`` CLI through the
``dispatch_analytics.commands`` entry point (the library never imports the dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatch_analytics.cli.common import DataDir, out
from dispatch_analytics.store import Store

__all__ = ["register", "serve_cmd"]


def serve_cmd(
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind (default loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8050,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML with a [dashboard] table.")
    ] = None,
    refresh_s: Annotated[
        float | None,
        typer.Option("--refresh-s", help="Seconds between checks for new data (default 30)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the dashboard over the data directory (offline; binds 127.0.0.1 by default).

    Basic auth: set users in the config's [dashboard.users] table or in
    DISPATCH_DASH_USERS="alice:secret,bob:pw".

    Example:  dispatch serve --data-dir .demo/data --port 8050
    """
    from . import create_app

    Store(data_dir, create=False)
    app = create_app(data_dir, config, refresh_s=refresh_s)
    out.print(f"dashboard on http://{host}:{port}  (Ctrl-C stops it)")
    app.run(host=host, port=port, debug=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``dispatch`` command line."""
    app.command("serve")(serve_cmd)
