"""Commands `status`, `rejects`, `sql` and `where`: what the store holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import JustifyMethod
from rich.table import Table

from .common import (
    DataDir,
    Format,
    check_format,
    fmt_cell,
    out,
    print_frame,
)

if TYPE_CHECKING:
    import polars as pl

    from ..store import Store

__all__ = ["register"]


def _status_totals(store: Store) -> pl.DataFrame:
    return store.sql(
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


def _shared(store: Store) -> dict:
    """Zone layers and stations every agency shares (``agency`` null)."""
    layers = store.sql("select distinct layer from zones where agency is null order by layer")[
        "layer"
    ].to_list()
    stations = store.sql("select count(*) as n from stations where agency is null")["n"][0]
    return {"zone_layers": layers, "stations": int(stations)}


def _status_json(store: Store, totals: pl.DataFrame, per: pl.DataFrame) -> None:
    import json

    def plain(row: dict) -> dict:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}

    doc = {
        "store": str(store.root),
        "totals": plain(totals.row(0, named=True)),
        "agencies": [plain(r) for r in per.iter_rows(named=True)],
        "shared": _shared(store),
    }
    out.file.write(json.dumps(doc, indent=1, default=str) + "\n")


def _agency_table(per: pl.DataFrame, shared: dict) -> None:
    """One row per agency, in people's formats; the shared layers and stations below it."""
    from .. import fmt

    t = Table(title="Per agency", header_style="bold")
    heads: list[tuple[str, JustifyMethod]] = [
        ("agency", "left"),
        ("time zone", "left"),
        ("incidents", "right"),
        ("responses", "right"),
        ("first call", "left"),
        ("last call", "left"),
        ("batches", "right"),
        ("rejected rows", "right"),
        ("flagged rows", "right"),
        ("zone layers", "left"),
        ("stations", "right"),
    ]
    for h, j in heads:
        t.add_column(h, justify=j)
    for r in per.iter_rows(named=True):
        t.add_row(
            r["agency"] or "(no agency)",
            r["timezone"] or "",
            fmt.count(r["incidents"]),
            fmt.count(r["responses"]),
            str(r["first_call_date"] or ""),
            str(r["last_call_date"] or ""),
            fmt.count(r["batches"]),
            fmt.count(r["rows_rejected"]),
            fmt.count(r["flagged_rows"]),
            ", ".join(r["zone_layers"]) or "-",
            fmt.count(r["stations"]),
        )
    out.print(t)
    if shared["zone_layers"] or shared["stations"]:
        out.print(
            f"Shared by every agency: zone layers {', '.join(shared['zone_layers']) or '-'}; "
            f"stations {shared['stations']:,}",
            highlight=False,
        )


def status_cmd(data_dir: DataDir = None, fmt: Format = "table") -> None:
    """Show what the store holds, per agency (incidents, responses, first and last call date
    in the agency's time zone, batches, rejected and flagged rows, its zone layers and
    stations) and in total (batches, rows read = accepted + rejected). ``--format json`` gives
    ``{"store", "totals", "agencies": [...], "shared"}``; ``csv`` the per-agency rows.

    Example:  dispatch status --data-dir ./dispatch_data --format json
    """
    import polars as pl

    from ..metrics.agencies import agency_status
    from ..store import Store

    fmt = check_format(fmt)
    store = Store(data_dir, create=False)
    totals = _status_totals(store)
    con = store.connect(read_only=True)
    try:
        per = agency_status(con)
    finally:
        con.close()
    if fmt == "json":
        _status_json(store, totals, per)
        return
    if fmt == "csv":
        print_frame(per.with_columns(pl.col("zone_layers").list.join("; ")), "csv")
        return
    out.print(f"Store: {store.root}")
    row = totals.row(0, named=True)
    t = Table(title="Store status", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in row.items():
        t.add_row(k.replace("_", " "), fmt_cell(v))
    out.print(t)
    out.print(
        f"rows read {row['rows_read']:,} = accepted {row['rows_accepted']:,} + rejected "
        f"{row['rows_rejected']:,}",
        highlight=False,
    )
    _agency_table(per, _shared(store))
    batches = store.sql(
        "select batch_id, source, profile, rows_read, rows_accepted, rows_rejected, incidents "
        "from ingest_log order by batch_id"
    )
    print_frame(batches, "table", title="Batches")
    q = store.sql(
        "select agency, reason, count(*) as rows from rejects group by all "
        "order by agency nulls last, rows desc, reason"
    )
    if q.height:
        print_frame(q, "table", title="Data quality: rejected rows by agency and reason")
    flags = store.sql(
        "select agency, time_flags, count(*) as rows from responses where time_flags is not null "
        "group by all order by agency nulls last, rows desc"
    )
    if flags.height:
        print_frame(flags, "table", title="Data quality: flagged times (kept)")


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
    import polars as pl

    from ..ingest.results import REJECT_REASONS
    from ..store import Store

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


def sql_cmd(
    query: Annotated[str, typer.Argument(help="One SQL statement (read-only).")],
    fmt: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Run one read-only query over the catalog views (responses, incidents, rejects,
    ingest_log, zones, ...). Anything but a query (COPY, ATTACH, CREATE, SET, ...) is refused
    before it runs. Timestamps print in UTC; lists, structs, blobs and intervals print as text
    (JSON keeps lists and structs nested).

    Example:  dispatch sql "select call_category, count(*) from incidents group by 1" -f csv
    """
    from ..store import Store
    from ..store.console import read_only_query

    fmt = check_format(fmt)
    store = Store(data_dir, create=False)
    print_frame(read_only_query(store, query, nested=fmt == "json"), fmt)


def where_cmd(data_dir: DataDir = None) -> None:
    """Print the data directory in use and its catalog path (for SQL clients).

    Example:  duckdb -readonly "$(dispatch where | tail -1)"
    """
    from ..store import resolve_data_dir

    root = resolve_data_dir(data_dir)
    out.print(str(root))
    out.print(str(root / "catalog.duckdb"))


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("status")(status_cmd)
    app.command("rejects")(rejects_cmd)
    app.command("sql")(sql_cmd)
    app.command("where")(where_cmd)
