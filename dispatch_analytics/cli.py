"""The ``dispatch`` command line: a thin edge over the library.

Exit codes: 0 success; 1 an error (bad input, bad profile, store or query error);
2 a usage error (unknown option, missing argument); 3 ``--strict`` and rows were rejected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .errors import DispatchError
from .ingest import REJECT_REASONS, IngestReport, ingest
from .profiles import builtin_profiles, load_profile
from .store import Store, resolve_data_dir

__all__ = ["app", "main", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_REJECTS"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REJECTS = 0, 1, 2, 3

app = typer.Typer(
    name="dispatch",
    help="Open, offline, SQL-first emergency dispatch analytics.\n\n"
    "Example:  dispatch ingest calls.csv --profile sffd && dispatch status",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="DISPATCH_DATA_DIR",
        help="Data directory (default ./dispatch_data; env DISPATCH_DATA_DIR).",
        show_default=False,
    ),
]
Format = Annotated[str, typer.Option("--format", "-f", help="Output format: table, csv or json.")]


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


# ------------------------------------------------------------------ output helpers
def _fmt_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_frame(df: pl.DataFrame, fmt: str = "table", title: str | None = None, file=None) -> None:
    """Print a frame as a rich table, CSV or JSON (one object per row, in a list)."""
    fmt = fmt.lower()
    if fmt == "csv":
        text = df.write_csv()
        (file or sys.stdout).write(text)
    elif fmt == "json":
        rows = df.to_dicts()
        (file or sys.stdout).write(json.dumps(rows, default=str, indent=1) + "\n")
    elif fmt == "table":
        table = Table(title=title, show_lines=False, header_style="bold")
        for c, t in df.schema.items():
            table.add_column(c, justify="right" if t.is_numeric() else "left")
        for row in df.iter_rows():
            table.add_row(*[_fmt_cell(v) for v in row])
        out.print(table)
        if df.height == 0:
            out.print("(no rows)")
    else:
        raise typer.BadParameter(f"`--format` {fmt!r} must be table, csv or json")


def _ingest_summary(report: IngestReport) -> None:
    t = Table(title="Ingest summary" + (" (dry run: nothing written)" if report.dry_run else ""))
    for c in (
        "file",
        "rows read",
        "accepted",
        "rejected",
        "incidents",
        "units",
        "from (UTC)",
        "to (UTC)",
        "batch",
    ):
        t.add_column(
            c,
            justify="right"
            if c in ("rows read", "accepted", "rejected", "incidents", "units")
            else "left",
        )
    for f in report.files:
        if f.skipped:
            t.add_row(
                Path(f.source).name,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                f"skipped: already ingested as {f.skipped_as}",
            )
            continue
        t.add_row(
            Path(f.source).name,
            f"{f.rows_read:,}",
            f"{f.rows_accepted:,}",
            f"{f.rows_rejected:,}",
            f"{f.incidents:,}",
            f"{f.units:,}",
            f"{f.first_received_at:%Y-%m-%d %H:%M}" if f.first_received_at else "",
            f"{f.last_received_at:%Y-%m-%d %H:%M}" if f.last_received_at else "",
            f.batch_id or "",
        )
    out.print(t)
    reasons = report.rejects_by_reason
    if reasons:
        rt = Table(title="Rejected rows by reason")
        rt.add_column("reason")
        rt.add_column("rows", justify="right")
        rt.add_column("meaning")
        for r, n in reasons.items():
            rt.add_row(r, f"{n:,}", REJECT_REASONS.get(r, ""))
        out.print(rt)
        if not report.dry_run:
            out.print("List them with: dispatch rejects [--reason R] [--out rejects.csv]")
    out.print(
        f"rows read {report.rows_read:,} = accepted {report.rows_accepted:,} "
        f"+ rejected {report.rows_rejected:,}"
    )


# ------------------------------------------------------------------ commands
@app.command("ingest")
def ingest_cmd(
    files: Annotated[
        list[str], typer.Argument(help="Files or globs (CSV, .gz, Parquet, JSON lines).")
    ],
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Built-in profile name (see `dispatch profiles`)."),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="Mapping TOML file.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count; write nothing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 3 if any row is rejected.")
    ] = False,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows held in memory at once (bounds peak memory).")
    ] = 100_000,
    h3_resolution: Annotated[
        int, typer.Option("--h3-resolution", help="H3 resolution of each incident's cell (0-15).")
    ] = 8,
    data_dir: DataDir = None,
) -> None:
    """Ingest CAD / 911 export files into the store (one atomic batch per file).

    Every source row is either accepted or rejected with a reason; re-ingesting the same
    file adds nothing.

    Example:  dispatch ingest exports/2024-*.csv.gz --mapping my_cad.toml
    """
    if (profile is None) == (mapping is None):
        raise typer.BadParameter("give exactly one of `--profile NAME` or `--mapping FILE.toml`")
    prof = load_profile(profile if profile is not None else mapping)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(Path(name).name, total=total)
            tot = max(total or 0, done)
            bar.update(tasks[name], completed=done, total=tot)

        report = ingest(
            files,
            prof,
            data_dir=data_dir,
            dry_run=dry_run,
            chunk_rows=chunk_rows,
            progress=progress,
            h3_resolution=h3_resolution,
        )
    _ingest_summary(report)
    for layer, c in (report.zone_counts or {}).items():
        out.print(
            f"zones {layer!r}: {c['assigned']:,} incidents in a zone, "
            f"{c['outside']:,} outside, {c.get('no_coordinates', 0):,} without coordinates"
        )
    if strict and report.rows_rejected:
        raise typer.Exit(EXIT_REJECTS)


@app.command("status")
def status_cmd(data_dir: DataDir = None, fmt: Format = "table") -> None:
    """Show what the store holds: batches, rows, incidents, date range, rejects.

    Example:  dispatch status --data-dir ./dispatch_data
    """
    store = Store(data_dir, create=False)
    totals = store.sql(
        """
        select
          (select count(*) from ingest_log) as batches,
          (select coalesce(sum(rows_read), 0)::bigint from ingest_log) as rows_read,
          (select count(*) from responses_all) as rows_accepted,
          (select count(*) from rejects) as rows_rejected,
          (select count(*) from responses) as current_unit_rows,
          (select count(*) from incidents) as incidents,
          (select count(distinct unit_id) from responses) as units,
          (select min(call_received_at) from responses) as first_received_at,
          (select max(call_received_at) from responses) as last_received_at
        """
    )
    if fmt != "table":
        print_frame(totals, fmt)
        return
    out.print(f"Store: {store.root}")
    row = totals.row(0, named=True)
    t = Table(title="Store status", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in row.items():
        t.add_row(k.replace("_", " "), _fmt_cell(v))
    out.print(t)
    batches = store.sql(
        "select batch_id, source, profile, rows_read, rows_accepted, rows_rejected, incidents "
        "from ingest_log order by batch_id"
    )
    print_frame(batches, "table", title="Batches")
    q = store.sql(
        "select reason, count(*) as rows from rejects group by reason order by rows desc, reason"
    )
    if q.height:
        print_frame(q, "table", title="Data quality: rejected rows by reason")
    flags = store.sql(
        "select time_flags, count(*) as rows from responses where time_flags is not null "
        "group by all order by rows desc"
    )
    if flags.height:
        print_frame(flags, "table", title="Data quality: flagged times (kept)")


@app.command("rejects")
def rejects_cmd(
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Only this reason.")] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Only rows from files whose name contains this text."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Rows to print (0 = all); --out writes all.")
    ] = 50,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write every matching reject to this CSV.")
    ] = None,
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """List rejected source rows with file, row, field, reason and detail.

    Example:  dispatch rejects --reason stage_order --out stage_order.csv
    """
    if reason is not None and reason not in REJECT_REASONS:
        raise typer.BadParameter(
            f"`--reason` {reason!r} is not a reject reason; use one of {', '.join(REJECT_REASONS)}"
        )
    store = Store(data_dir, create=False)
    where, params = [], {}
    if reason:
        where.append("reason = $reason")
        params["reason"] = reason
    if source:
        where.append("contains(source, $source)")
        params["source"] = source
    sql = "select source, source_row, field, reason, value, detail, incident_id, raw_row, batch_id from rejects"
    if where:
        sql += " where " + " and ".join(where)
    sql += " order by batch_id, source_row"
    df = store.sql(sql, params)
    if out_file is not None:
        df.write_csv(out_file)
        out.print(f"wrote {df.height:,} rejected rows to {out_file}")
        return
    total = df.height
    if limit and total > limit:
        df = df.head(limit)
    if fmt == "table":
        df = df.drop("raw_row", "batch_id").with_columns(
            pl.col("source").map_elements(lambda s: Path(s).name, return_dtype=pl.String)
        )
    print_frame(df, fmt, title=f"Rejected rows ({total:,})")
    if fmt == "table" and limit and total > limit:
        out.print(f"showing {limit} of {total:,}; use --limit 0 or --out FILE.csv for all")


@app.command("sql")
def sql_cmd(
    query: Annotated[str, typer.Argument(help="One SQL statement (read-only).")],
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Run read-only SQL over the catalog views (responses, incidents, rejects, ingest_log).

    Example:  dispatch sql "select call_category, count(*) from incidents group by 1" -f csv
    """
    store = Store(data_dir, create=False)
    print_frame(store.sql(query), fmt)


@app.command("profiles")
def profiles_cmd(fmt: Format = "table") -> None:
    """List the built-in source profiles.

    Example:  dispatch profiles
    """
    rows = []
    for name, path in sorted(builtin_profiles().items()):
        p = load_profile(name)
        rows.append(
            {
                "name": name,
                "grain": p.grain,
                "timezone": p.timezone,
                "description": p.description,
                "path": str(path),
            }
        )
    df = pl.DataFrame(rows)
    print_frame(df.drop("path") if fmt == "table" else df, fmt, title="Built-in profiles")


@app.command("profile-template")
def profile_template_cmd(
    file: Annotated[Path, typer.Argument(help="A sample export (CSV, .gz, Parquet, JSON lines).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the TOML here (default: print it).")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="The agency's IANA time zone.")
    ] = None,
) -> None:
    """Write a starter mapping TOML from a file's header, with guessed fields and formats.

    Example:  dispatch profile-template cad_export.csv --timezone America/Denver -o my_cad.toml
    """
    from .template import profile_template

    text = profile_template(file, timezone=timezone)
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        out.print(
            f"wrote {out_file}; review every guessed line, then: "
            f"dispatch ingest {file} --mapping {out_file} --dry-run"
        )


@app.command("sample")
def sample_cmd(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the city into.")
    ] = Path("sample_data/city"),
    incidents: Annotated[
        int, typer.Option("--incidents", "-n", help="Number of incidents.")
    ] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
) -> None:
    """Write a realistic synthetic city: stations, station areas, battalions, incidents.

    Example:  dispatch sample --out /tmp/city --incidents 20000 --seed 7
    """
    from .sample import generate_city

    city = generate_city(out_dir, n_incidents=incidents, seed=seed)
    t = Table(title=f"Synthetic city in {city.out_dir}", show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("incidents", f"{city.n_incidents:,}")
    t.add_row("unit rows", f"{city.n_rows:,}")
    t.add_row("planted dirty rows", f"{sum(city.planted.values()):,}")
    for p in (
        city.incidents_csv,
        city.mapping_toml,
        city.stations_geojson,
        city.station_areas_geojson,
        city.battalions_geojson,
        city.readme,
    ):
        t.add_row("file", str(p))
    out.print(t)
    out.print(f"ingest it with: dispatch ingest {city.incidents_csv} --mapping {city.mapping_toml}")


@app.command("queries")
def queries_cmd(fmt: Format = "table") -> None:
    """List the named analyst queries in queries/ with their parameters.

    Example:  dispatch queries
    """
    from .queries import list_queries

    rows = [
        {
            "name": q.name,
            "description": q.description,
            "params": ", ".join(
                f"{p[0]}={p[2]}" if p[2] not in (None, "") else p[0] for p in q.params
            ),
            "path": str(q.path),
        }
        for q in list_queries()
    ]
    df = pl.DataFrame(rows)
    print_frame(df.drop("path") if fmt == "table" else df, fmt, title="Queries")


@app.command("query")
def query_cmd(
    name: Annotated[str, typer.Argument(help="Query name (see `dispatch queries`).")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as k=v; repeat for several."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="table, csv, json or parquet (parquet needs --out)."),
    ] = "table",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the result to this file.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run one named query with parameters.

    Example:  dispatch query fractile_compliance -p metric=total_response -p layer=neighborhoods -p target_s=480 -p period=month
    """
    from .queries import run_query

    params = {}
    for p in param or []:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise typer.BadParameter(f"`--param` {p!r} must look like key=value")
        params[k.strip()] = v
    store = Store(data_dir, create=False)
    con = store.connect(read_only=True)
    try:
        df = run_query(con, name, params)
    finally:
        con.close()
    _write_frame(df, fmt, out_file, title=name)


def _write_frame(df: pl.DataFrame, fmt: str, out_file: Path | None, title: str) -> None:
    fmt = fmt.lower()
    if fmt == "parquet":
        if out_file is None:
            raise typer.BadParameter("`--format parquet` needs `--out FILE.parquet`")
        df.write_parquet(out_file)
    elif out_file is not None and fmt in ("csv", "table"):
        df.write_csv(out_file)
    elif out_file is not None and fmt == "json":
        with open(out_file, "w", encoding="utf-8") as fh:
            print_frame(df, "json", file=fh)
    else:
        print_frame(df, fmt, title=title)
        return
    out.print(f"wrote {df.height:,} rows to {out_file}")


@app.command("report")
def report_cmd(
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="Standards profile: nfpa1710, nfpa1225, nfpa1720, cfai, or a TOML path.",
        ),
    ] = "nfpa1710",
    layer: Annotated[
        str | None, typer.Option("--layer", help="Group by the zones of this layer.")
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="Group by day, week, month, quarter or year.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML of local target overrides.")
    ] = None,
    station_layer: Annotated[
        str | None,
        typer.Option("--station-layer", help="Station-area layer (for first-due metrics)."),
    ] = None,
    density_layer: Annotated[
        str | None,
        typer.Option("--density-layer", help="Demand-zone layer with density classes (NFPA 1720)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, csv, json or xlsx (xlsx needs --out).")
    ] = "table",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to this file.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Print the compliance table agencies publish: per interval n, percentile, target,
    compliance, CI and flag, and a data-quality section.

    Example:  dispatch report --profile nfpa1710 --layer neighborhoods --period month --format xlsx -o report.xlsx
    """
    from .report import compliance_report

    store = Store(data_dir, create=False)
    con = store.connect(read_only=True)
    try:
        rep = compliance_report(
            con,
            profile=profile,
            layer=layer,
            period=period,
            overrides=config,
            station_layer=station_layer,
            density_layer=density_layer,
        )
    finally:
        con.close()
    fmt = fmt.lower()
    if fmt == "xlsx":
        if out_file is None:
            raise typer.BadParameter("`--format xlsx` needs `--out FILE.xlsx`")
        rep.to_xlsx(out_file)
        out.print(f"wrote {out_file}")
    elif fmt == "csv":
        text = rep.to_csv(out_file)
        if out_file is None:
            sys.stdout.write(text)
    elif fmt == "json":
        text = rep.to_json(out_file)
        if out_file is None:
            sys.stdout.write(text + "\n")
    elif fmt == "table":
        text = rep.to_text()
        if out_file is not None:
            Path(out_file).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text + "\n")
    else:
        raise typer.BadParameter(f"`--format` {fmt!r} must be table, csv, json or xlsx")


@app.command("serve")
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
    from dash_app import create_app  # the edge may import the app; the library never does

    Store(data_dir, create=False)
    app = create_app(data_dir, config, refresh_s=refresh_s)
    out.print(f"dashboard on http://{host}:{port}  (Ctrl-C stops it)")
    app.run(host=host, port=port, debug=False)


# ------------------------------------------------------------------ zones and stations
zones_app = typer.Typer(
    help="Zone layers (demand zones, station areas, ...): load, list, incidents outside.\n\n"
    "Example:  dispatch zones load zones.gpkg --layer demand_zones --id-field ZONE",
    no_args_is_help=True,
)
stations_app = typer.Typer(
    help="Station points, with ids matching the incidents' station_id.\n\n"
    "Example:  dispatch stations load stations.geojson --id-field STATION",
    no_args_is_help=True,
)
app.add_typer(zones_app, name="zones")
app.add_typer(stations_app, name="stations")


def _print_warnings(caught) -> None:
    for w in caught:
        err.print(f"Warning: {w.message}", highlight=False)


@zones_app.command("load")
def zones_load_cmd(
    file: Annotated[
        Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile, zipped Shapefile or GeoParquet.")
    ],
    layer: Annotated[
        str,
        typer.Option(
            "--layer",
            help="Layer name, snake_case (e.g. demand_zones); replaces a layer of that name.",
        ),
    ],
    id_field: Annotated[str, typer.Option("--id-field", help="Field with each zone's unique id.")],
    name_field: Annotated[
        str | None, typer.Option("--name-field", help="Field with a display name.")
    ] = None,
    density_field: Annotated[
        str | None,
        typer.Option(
            "--density-field",
            help="Field with the NFPA 1720 class: urban, suburban, rural or remote.",
        ),
    ] = None,
    source_layer: Annotated[
        str | None,
        typer.Option(
            "--source-layer", help="Layer of a multi-layer file (GeoPackage) or dataset in a zip."
        ),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs",
            help="CRS of the coordinates (e.g. EPSG:2227): needed when the file has none; overrides the file's.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Load a zone layer and assign every incident to it.

    Example:  dispatch zones load demand_zones.gpkg --layer demand_zones --id-field ZONE --density-field CLASS
    """
    import warnings

    from .zones import load_zones

    store = Store(data_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = load_zones(
            store.root,
            file,
            layer,
            id_field=id_field,
            name_field=name_field,
            density_field=density_field,
            source_layer=source_layer,
            crs=crs,
        )
    _print_warnings(caught)
    out.print(rep.summary(), highlight=False)


@zones_app.command("list")
def zones_list_cmd(data_dir: DataDir = None, fmt: Format = "table") -> None:
    """List the loaded zone layers with zone and incident counts.

    Example:  dispatch zones list
    """
    store = Store(data_dir, create=False)
    df = store.sql(
        """
        select z.layer, count(*) as zones, sum(z.area_km2) as area_km2,
          string_agg(distinct z.density_class, ', ' order by z.density_class) as density_classes,
          (select count(*) from incident_zones i
            where i.layer = z.layer and i.zone_id is not null) as incidents_in_zones,
          (select count(*) from incident_zones i
            where i.layer = z.layer and i.zone_id is null) as incidents_outside
        from zones z group by z.layer order by z.layer
        """
    )
    print_frame(df, fmt, title="Zone layers")
    if fmt == "table" and df.height == 0:
        out.print("load one with: dispatch zones load FILE --layer NAME --id-field FIELD")


@zones_app.command("outside")
def zones_outside_cmd(
    layer: Annotated[
        str, typer.Option("--layer", help="A loaded layer (see `dispatch zones list`).")
    ],
    include_unlocated: Annotated[
        bool, typer.Option("--include-unlocated", help="Also list incidents without coordinates.")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write them all to this CSV.")
    ] = None,
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """List incidents outside every zone of a layer.

    Example:  dispatch zones outside --layer demand_zones --out outside.csv
    """
    from .zones import outside_incidents

    store = Store(data_dir, create=False)
    con = store.connect(read_only=True)
    try:
        df = outside_incidents(con, layer, include_unlocated=include_unlocated)
    finally:
        con.close()
    if out_file is not None:
        df.write_csv(out_file)
        out.print(f"wrote {df.height:,} incidents to {out_file}")
        return
    print_frame(df, fmt, title=f"Incidents outside every zone of {layer!r} ({df.height:,})")


@stations_app.command("load")
def stations_load_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON, GeoPackage, Shapefile, GeoParquet, or CSV with latitude/longitude."
        ),
    ],
    id_field: Annotated[
        str | None, typer.Option("--id-field", help="Field with the station id (default: guessed).")
    ] = None,
    name_field: Annotated[
        str | None,
        typer.Option("--name-field", help="Field with a display name (default: guessed)."),
    ] = None,
    id_regex: Annotated[
        str | None,
        typer.Option(
            "--id-regex",
            help="Regex extracting the id from the field (its first group), e.g. '#(\\d+)'.",
        ),
    ] = None,
    zero_pad: Annotated[
        int | None,
        typer.Option("--zero-pad", help="Zero-pad all-digit ids to this width (7 -> 07)."),
    ] = None,
    crs: Annotated[
        str | None, typer.Option("--crs", help="CRS of the coordinates (e.g. EPSG:2227).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    r"""Load (replace) the station points.

    Example:  dispatch stations load sf_fire_stations.geojson --id-field common_name --id-regex '#(\d+)' --zero-pad 2
    """
    import warnings

    from .stations import load_stations

    store = Store(data_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = load_stations(
            store.root,
            file,
            id_field=id_field,
            name_field=name_field,
            crs=crs,
            id_regex=id_regex,
            zero_pad=zero_pad,
        )
    _print_warnings(caught)
    out.print(rep.summary(), highlight=False)


@app.command("where")
def where_cmd(data_dir: DataDir = None) -> None:
    """Print the data directory in use and its catalog path (for SQL clients).

    Example:  duckdb -readonly "$(dispatch where | tail -1)"
    """
    root = resolve_data_dir(data_dir)
    out.print(str(root))
    out.print(str(root / "catalog.duckdb"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dispatch`` console script.

    Usage errors exit with 2 (click's convention); library errors are printed without a
    traceback and exit with 1.
    """
    from rich.text import Text

    try:
        app(args=argv)
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
