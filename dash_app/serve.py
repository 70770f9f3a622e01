"""The production server of ``dispatch serve``: gunicorn with N worker processes.

Each worker builds its own Dash app (:func:`dash_app.create_app`) after the fork, so no
DuckDB connection crosses a fork; the workers share the store's snapshot file (built once
per data version, see :class:`dash_app.data.DataSource`) and the alerts evaluated once per
data version (:mod:`dash_app.alerts`). gunicorn's own signals apply to the master process:
``HUP`` reloads gracefully (new workers start, old ones finish their requests), ``TERM``
stops gracefully, ``TTIN`` / ``TTOU`` add or remove a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dispatch_analytics.errors import DispatchError

from .config import DashConfig

__all__ = ["ServerOptions", "gunicorn_options", "run_gunicorn"]


@dataclass(frozen=True)
class ServerOptions:
    """How ``dispatch serve`` runs gunicorn.

    Attributes
    ----------
    host, port : str, int
        The address to bind.
    workers : int
        Worker processes (each answers requests with ``threads`` threads).
    threads : int
        Threads per worker (gunicorn's ``gthread`` worker).
    timeout_s : float
        A worker silent for longer than this is killed and replaced.
    access_log : str or None
        A file to write the access log to, ``"-"`` for standard output, None for none.
    graceful_timeout_s : float
        On stop or reload, how long workers may finish the requests they are answering.
    """

    host: str = "127.0.0.1"
    port: int = 8050
    workers: int = 1
    threads: int = 4
    timeout_s: float = 120.0
    access_log: str | None = None
    graceful_timeout_s: float = 30.0

    def check(self) -> None:
        """Raise :class:`DispatchError` listing every invalid option."""
        problems = []
        for name, lo in (("workers", 1), ("threads", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < lo:
                problems.append(f"`--{name}` must be a whole number >= {lo}, got {v!r}")
        if not 0 < self.port < 65536:
            problems.append(f"`--port` must be 1-65535, got {self.port}")
        for name in ("timeout_s", "graceful_timeout_s"):
            if not getattr(self, name) > 0:
                flag = name.removesuffix("_s").replace("_", "-")
                problems.append(f"`--{flag}` must be > 0 seconds, got {getattr(self, name)}")
        if self.access_log not in (None, "-"):
            parent = Path(self.access_log).expanduser().parent
            if not parent.is_dir():
                problems.append(
                    f"`--access-log` {self.access_log}: folder {parent} does not exist; "
                    "create it or pass '-' for standard output"
                )
        if problems:
            raise DispatchError("; ".join(problems))


def _worker_exit(server, worker) -> None:
    """gunicorn's ``worker_exit`` hook, in the worker as it stops: end the process without
    Python's finalisation. Measured: a stopped worker hung for good in it (DuckDB's default
    connection, freed while the modules are cleared, joins a thread that never ends; gdb
    backtrace ``Py_FinalizeEx -> DuckDBPyConnection::Cleanup -> ~TaskScheduler ->
    thread::join``), outliving its master. Nothing is left to flush: every file the
    dashboard writes is written whole and renamed, or appended and closed."""
    import logging
    import os
    import sys

    # the exit code gunicorn's arbiter reads (3: the app failed to boot, which stops the
    # master instead of respawning for ever) is the SystemExit being raised
    exc = sys.exc_info()[1]
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:
        code = 0 if exc is None else 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)


def gunicorn_options(opts: ServerOptions) -> dict:
    """gunicorn settings for ``opts`` (bind, workers, gthread worker, timeouts, access log)."""
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    out = {
        "bind": f"{host}:{opts.port}",
        "workers": opts.workers,
        "worker_class": "gthread",
        "threads": opts.threads,
        "timeout": max(1, round(opts.timeout_s)),
        "graceful_timeout": max(1, round(opts.graceful_timeout_s)),
        "keepalive": 5,
        "preload_app": False,  # each worker opens its own DuckDB connections after the fork
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "dispatch-serve",
        "forwarded_allow_ips": "127.0.0.1,::1",
        "worker_exit": _worker_exit,
    }
    if opts.access_log is not None:
        out["accesslog"] = opts.access_log
    return out


def run_gunicorn(data_dir: str | Path | None, cfg: DashConfig, opts: ServerOptions) -> None:
    """Serve the dashboard on gunicorn until the master process is stopped.

    Parameters
    ----------
    data_dir : path or None
        The store.
    cfg : DashConfig
        The dashboard settings (every worker uses the same).
    opts : ServerOptions
        Address, workers, timeouts, access log.
    """
    from gunicorn.app.base import BaseApplication

    opts.check()

    class _App(BaseApplication):
        def load_config(self):
            for k, v in gunicorn_options(opts).items():
                self.cfg.set(k, v)
            # gunicorn >= 25.1 opens a control socket in ~/.gunicorn by default: two
            # dashboards (two stores) would fight over it, and nothing here uses it
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            from . import create_app

            return create_app(data_dir, cfg).server

    _App().run()
