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
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Also answer requests for this Host name (repeatable; e.g. the name a "
            "reverse proxy forwards). Loopback names are always allowed.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the dashboard over the data directory (offline; binds 127.0.0.1 by default).

    Basic auth: set users in the config's [dashboard.users] table or in
    DISPATCH_DASH_USERS="alice:secret,bob:pw".

    Requests whose Host header is not a loopback name, the --host address or an allowed
    host (--allowed-host, [dashboard] allowed_hosts) are refused with 400.

    Example:  dispatch serve --data-dir .demo/data --port 8050
    Example:  dispatch serve --host 0.0.0.0 --allowed-host dash.example.org
    """
    from . import create_app
    from .config import load_config

    Store(data_dir, create=False)
    cfg = load_config(config, refresh_s=refresh_s, host=host)
    cfg.allowed_hosts = [*cfg.allowed_hosts, *(allowed_host or [])]
    app = create_app(data_dir, cfg)
    out.print(f"dashboard on http://{host}:{port}  (Ctrl-C stops it)")
    app.run(host=host, port=port, debug=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``dispatch`` command line."""
    app.command("serve")(serve_cmd)
