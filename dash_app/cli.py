"""``dispatch serve``: registered on the ``dispatch`` CLI through the
``dispatch_analytics.commands`` entry point (the library never imports the dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatch_analytics.cli.common import DataDir, out

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
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Worker processes of the gunicorn server (they share one snapshot file).",
        ),
    ] = 1,
    threads: Annotated[int, typer.Option("--threads", help="Threads per worker.")] = 4,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds before a silent worker is killed and replaced."),
    ] = 120.0,
    access_log: Annotated[
        str | None,
        typer.Option("--access-log", help="Write an access log to this file ('-': stdout)."),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option("--dev", help="Flask's development server instead (one process)."),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Serve the dashboard over the data directory (offline; binds 127.0.0.1 by default).

    Runs gunicorn with --workers processes (default 1) of --threads threads each. Signals
    to the server process: HUP reloads gracefully (new workers, old ones finish their
    requests), TERM or Ctrl-C stops. GET /healthz answers {"ok": true, "pid": ...}.

    Basic auth: set users in the config's [dashboard.users] table or in
    DISPATCH_DASH_USERS="alice:secret,bob:pw".

    Requests whose Host header is not a loopback name, the --host address or an allowed
    host (--allowed-host, [dashboard] allowed_hosts) are refused with 400.

    Example:  dispatch serve --data-dir .demo/data --port 8050
    Example:  dispatch serve --workers 4 --access-log - --host 0.0.0.0 --allowed-host dash.example.org
    """
    from dispatch_analytics.store import Store, resolve_data_dir

    from .config import load_config
    from .serve import ServerOptions, run_gunicorn

    if not (resolve_data_dir(data_dir) / "lake" / "batches").is_dir():
        Store(data_dir, create=False)  # raises: no store here, with what to do
    # nothing else touches the store here: gunicorn forks its workers from this process, and
    # a DuckDB or Polars thread pool started before a fork deadlocks the child; every worker
    # opens the store itself
    cfg = load_config(config, refresh_s=refresh_s, host=host)
    cfg.allowed_hosts = [*cfg.allowed_hosts, *(allowed_host or [])]
    opts = ServerOptions(host, port, workers, threads, timeout, access_log)
    opts.check()
    if dev:
        if workers != 1:
            raise typer.BadParameter("`--dev` runs one process; leave out `--workers`")
        from . import create_app

        Store(data_dir, create=False)
        app = create_app(data_dir, cfg)
        out.print(f"dashboard on http://{host}:{port}  (development server; Ctrl-C stops it)")
        app.run(host=host, port=port, debug=False)
        return
    out.print(
        f"dashboard on http://{host}:{port}  (gunicorn, {workers} worker(s) x {threads} "
        "threads; HUP reloads, Ctrl-C stops)"
    )
    run_gunicorn(data_dir, cfg, opts)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``dispatch`` command line."""
    app.command("serve")(serve_cmd)
