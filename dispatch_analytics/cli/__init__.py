"""The ``dispatch`` command line: a thin edge over the library, one module per command group.

Exit codes: 0 success; 1 an error (bad input, bad profile, store or query error);
2 a usage error (unknown option, missing argument); 3 ``--strict`` and rows were rejected.
Library errors are translated into messages here, at the edge, never before.

Other packages add command groups through the ``dispatch_analytics.commands`` entry point
group: each entry is a ``register(app)`` function (``dash_app`` adds ``dispatch serve``).
"""

from __future__ import annotations

import sys
from functools import cache
from importlib.metadata import entry_points
from typing import Annotated

import typer

from .._version import __version__
from ..errors import DispatchError
from . import (
    batches,
    compact,
    coverage,
    export,
    hotspots,
    impact,
    ingest,
    planning,
    queries,
    reliability,
    report,
    sample,
    spatial,
    store,
    units,
    watch,
)
from .common import EXIT_ERROR, EXIT_OK, EXIT_REJECTS, EXIT_USAGE, err, out, print_frame

__all__ = [
    "app",
    "main",
    "print_frame",
    "ENTRY_POINT_GROUP",
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_REJECTS",
]

#: Entry point group of command plugins (``register(app)`` functions).
ENTRY_POINT_GROUP = "dispatch_analytics.commands"

app = typer.Typer(
    name="dispatch",
    help="Open, offline, SQL-first emergency dispatch analytics.\n\n"
    "Example:  dispatch ingest calls.csv --profile sffd && dispatch status",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"dispatch-analytics {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Open, offline, SQL-first emergency dispatch analytics."""


for _module in (
    ingest,
    store,
    sample,
    queries,
    report,
    spatial,
    export,
    hotspots,
    reliability,
    impact,
    units,
    coverage,
    planning,
    batches,
    watch,
    compact,
):
    _module.register(app)


def _load_plugins() -> None:
    """Register the command groups other installed packages contribute."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register = ep.load()
        except ImportError as exc:  # e.g. the dashboard's dependencies are not installed
            err.print(f"Warning: command plugin {ep.name!r} not loaded: {exc}", highlight=False)
            continue
        register(app)


_load_plugins()


@cache
def _command():
    """The click command tree of ``app``, built once per process. Calling ``app`` builds it
    anew every time (typer reads every command's signature and evaluates its annotations:
    52 ms for the ~50 commands, measured as the mean of 5), which a process that runs
    several commands (the tests, a script calling :func:`main`) paid on each. The app sets
    ``pretty_exceptions_enable=False``, so typer's own call adds nothing else."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dispatch`` console script.

    Usage errors exit with 2 (click's convention); library errors are printed without a
    traceback and exit with 1.
    """
    from rich.text import Text

    from ..store.permissions import apply_file_mode

    try:
        apply_file_mode()  # the store's files and exports: 0600 / folders 0700 by default
        _command()(args=argv)
    except SystemExit as exc:  # click ends every run this way
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_ERROR)
    except DispatchError as exc:
        err.print(Text("Error: ", style="bold red") + Text(str(exc)), highlight=False)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("Interrupted.")
        return 130
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
