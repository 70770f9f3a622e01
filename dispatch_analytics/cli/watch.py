"""Commands `watch` (live feeds: a drop folder or a CAD database) and `feed-status`."""

from __future__ import annotations

import csv
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import FeedError
from ..fmt import duration
from .common import EXIT_ERROR, EXIT_REJECTS, DataDir, Format, check_format, err, out, print_frame

if TYPE_CHECKING:
    from ..feeds import DatabaseWatch, FolderWatch
    from ..feeds.state import CycleReport
    from ..ingest.profiles import SourceProfile

#: ``feeds.status.DEFAULT_STALE_AFTER_S``, repeated so that loading the command line does not
#: import the feeds (and the ingest pipeline behind them); tests/test_architecture.py checks it.
STALE_AFTER_S = 900.0

__all__ = ["register"]

_CSV_FIELDS = (
    "started_at",
    "kind",
    "feed",
    "seen",
    "waiting",
    "ingested",
    "unchanged",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "duplicates",
    "errors",
    "cursor",
    "seconds",
)


def _profile(profile: str | None, mapping: Path | None) -> SourceProfile:
    from ..ingest.profiles import load_profile

    if profile is not None and mapping is None:
        return load_profile(profile)
    if mapping is not None and profile is None:
        return load_profile(mapping)
    raise typer.BadParameter("give exactly one of `--profile NAME` or `--mapping FILE.toml`")


def _check_args(
    folder: Path | None,
    database: str | None,
    query: Path | None,
    cursor: str | None,
    interval_s: float,
    settle_s: float,
) -> None:
    """Usage errors (exit 2), all at once."""
    problems = []
    if (folder is None) == (database is None):
        problems.append("give a drop folder `DIR` or `--database URL` (exactly one)")
    if database is not None and (query is None or cursor is None):
        problems.append("`--database` needs `--query FILE.sql` and `--cursor COLUMN`")
    if folder is not None and (query is not None or cursor is not None):
        problems.append("`--query` / `--cursor` go with `--database`, not with a folder")
    if not interval_s > 0:
        problems.append(f"`--interval-s` must be > 0, got {interval_s}")
    if settle_s < 0:
        problems.append(f"`--settle-s` must be >= 0, got {settle_s}")
    if problems:
        raise typer.BadParameter("; ".join(problems))


class _Printer:
    """Prints each cycle: a log line (table), a CSV row, or a JSON line."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self._csv: Any = None

    def __call__(self, rep: CycleReport) -> None:
        d = rep.to_dict()
        if self.fmt == "json":
            sys.stdout.write(json.dumps(d, default=str) + "\n")
        elif self.fmt == "csv":
            if self._csv is None:
                self._csv = csv.writer(sys.stdout, lineterminator="\n")
                self._csv.writerow(_CSV_FIELDS)
            row = d | {"errors": " | ".join(" ".join(e.split()) for e in rep.errors)}
            self._csv.writerow([row[k] if row[k] is not None else "" for k in _CSV_FIELDS])
        else:
            out.print(rep.line(), highlight=False, soft_wrap=True)
        for e in rep.errors:
            err.print(f"  error: {e}", highlight=False, soft_wrap=True)
        sys.stdout.flush()


class _Spinner:
    """A watcher whose cycles show a spinner on a terminal (long first ingests)."""

    def __init__(self, watch: FolderWatch | DatabaseWatch):
        self._watch = watch
        self.name, self.kind = watch.name, watch.kind

    def cycle(self) -> CycleReport:
        with err.status(f"{self.kind} {self.name}: looking for new data", spinner="dots"):
            return self._watch.cycle()

    def record_failure(self, message: str) -> None:
        self._watch.record_failure(message)


def _sigterm(signum, frame) -> None:  # pragma: no cover - exercised by the subprocess test
    raise KeyboardInterrupt


# Long: one command's options (typer reads them from the signature) and its three outcomes.
def watch_cmd(
    folder: Annotated[
        Path | None, typer.Argument(help="Drop folder to watch (or use `--database`).")
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="CAD database URL: postgresql://user[:password]@host[:port]/dbname.",
            envvar="DISPATCH_WATCH_DATABASE",
            show_default=False,
        ),
    ] = None,
    query: Annotated[
        Path | None,
        typer.Option(
            "--query",
            help="SQL file: one select of the rows (e.g. select * from "
            "cad_units); the cursor condition is added.",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            help="Column that grows on every insert / update (an update stamp or a sequence).",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Built-in profile name (see `dispatch profiles`)."),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Mapping TOML file.")
    ] = None,
    interval_s: Annotated[
        float, typer.Option("--interval-s", help="Seconds between the starts of two cycles.")
    ] = 30.0,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit (cron).")] = False,
    pattern: Annotated[
        str, typer.Option("--pattern", help="Folder: glob of file names to ingest.")
    ] = "*",
    settle_s: Annotated[
        float,
        typer.Option(
            "--settle-s",
            help="Folder: seconds between the two looks at a new or "
            "changed file (0: the next cycle is the second look).",
        ),
    ] = 2.0,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Database: the feed's name in its state (default: the query file's path).",
        ),
    ] = None,
    h3_resolution: Annotated[
        int, typer.Option("--h3-resolution", help="H3 resolution of each incident's cell.")
    ] = 8,
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Ingest new data as it arrives: files in a drop folder, or rows of a CAD database.

    A folder: every file that appears or grows is ingested once complete (same size and
    modification time in two looks), each content once; a bad file is reported and skipped
    until it changes. A database: each cycle fetches the rows whose `--cursor` column is at
    or past the saved cursor (ties never lost nor fetched twice), ingests them with the
    profile, then saves the cursor. State lives in DATA_DIR/state/, so a restart ingests
    nothing twice. One log line per cycle (--format json: one JSON object per line).

    Exit codes: 0 ok (or stopped by Ctrl-C / SIGTERM); 1 an error (with --once: anything
    in the cycle failed; without: the first cycle failed); 2 a usage error.

    Example:  dispatch watch exports/ --profile sffd --interval-s 60

    Example:  dispatch watch --database postgresql://reader@cad-db/cad --query units.sql
    --cursor updated_at --mapping cad.toml --once
    """
    from ..feeds import DatabaseWatch, FolderWatch, run

    f = check_format(fmt)
    _check_args(folder, database, query, cursor, interval_s, settle_s)
    prof = _profile(profile, mapping)
    watch: FolderWatch | DatabaseWatch
    if folder is not None:
        watch = FolderWatch.from_dir(
            folder,
            prof,
            data_dir,
            pattern=pattern,
            settle_s=settle_s,
            h3_resolution=h3_resolution,
        )
    else:
        assert database is not None and query is not None and cursor is not None
        try:
            text = query.read_text(encoding="utf-8")
        except OSError as exc:
            raise FeedError(f"cannot read `--query` {query}: {exc}") from exc
        watch = DatabaseWatch.from_url(
            database,
            text,
            cursor,
            prof,
            data_dir,
            name=name or str(query.resolve()),
            h3_resolution=h3_resolution,
        )
    previous = signal.signal(signal.SIGTERM, _sigterm)
    printer = _Printer(f)
    reports: list[CycleReport] = []

    def on_cycle(rep: CycleReport) -> None:
        reports.append(rep)
        printer(rep)

    try:
        run(_Spinner(watch), interval_s=interval_s, once=once, on_cycle=on_cycle)
    except KeyboardInterrupt:
        err.print(f"stopped after {len(reports)} cycle(s)", highlight=False)
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
        if isinstance(watch, DatabaseWatch):
            watch.close()
    if once and reports and not reports[-1].ok:
        raise typer.Exit(EXIT_ERROR)


def feed_status_cmd(
    stale_after_s: Annotated[
        float, typer.Option("--stale-after-s", help="Stale when the last ingest is older.")
    ] = STALE_AFTER_S,
    check: Annotated[
        bool, typer.Option("--check", help="Exit with code 3 when the feed is stale.")
    ] = False,
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """When the store last received data, how long ago, and whether the feed is stale.

    Lists every watcher that ran on the store with its last cycle and last error.

    Example:  dispatch feed-status --stale-after-s 600 --check
    """
    import polars as pl

    from ..feeds import feed_status
    from ..store import Store

    f = check_format(fmt)
    st = feed_status(Store(data_dir, create=False), stale_after_s=stale_after_s)
    if f == "json":
        sys.stdout.write(json.dumps(st, default=str, indent=1) + "\n")
    else:
        summary = pl.DataFrame(
            [
                {
                    "last_ingest_at": str(st["last_ingest_at"] or ""),
                    "age": duration(st["age_s"]) if f == "table" else st["age_s"],
                    "stale": st["stale"],
                    "batches": st["batches"],
                    "last_source": st["last_source"],
                }
            ]
        )
        print_frame(summary, f, title="Feed status")
        if st["feeds"] and f == "table":
            feeds = pl.DataFrame(
                [{k: str(v) if v is not None else "" for k, v in d.items()} for d in st["feeds"]]
            )
            print_frame(feeds, f, title="Watchers")
    if check and st["stale"]:
        raise typer.Exit(EXIT_REJECTS)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("watch")(watch_cmd)
    app.command("feed-status")(feed_status_cmd)
