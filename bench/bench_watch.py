"""Live-feed benchmark: `make bench` prints a table; nothing here is asserted.

Against a real PostgreSQL server started in a temporary folder
(``dispatch_analytics.feeds.pg_local``, the same one the tests use), with a
CAD table growing by ``--rows`` (default 600) unit rows per poll:

- ``DatabaseWatch.cycle()``: fetch past the cursor, stage to Parquet, ingest, save the cursor;
- the baseline, measured in the same run: ``dispatch_analytics.ingest`` of the same rows
  already staged as a Parquet file, into a store of the same size;
- an empty poll on an open connection (the cost of polling when nothing changed).

The ratio feed / baseline is what the feed adds over a plain ingest of the same batch.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from dispatch_analytics import ingest, load_profile
from dispatch_analytics.feeds import DatabaseWatch
from dispatch_analytics.feeds.pg_local import (
    DEMO_CAD_COLUMNS,
    DEMO_CAD_MAPPING,
    DEMO_CAD_TABLE,
    PgServer,
    pg_bin_dir,
)
from dispatch_analytics.io.database import connect_database


def insert_rows(pg: PgServer, start: int, n: int) -> None:
    """n unit rows generated server-side (incidents start .. start+n-1)."""
    t0 = datetime(2024, 3, 1)
    pg.psql(
        f"insert into cad_units ({DEMO_CAD_COLUMNS}) select 'I' || g, 'M' || (g % 40), 'Medical', "
        f"'1', r, r + interval '60 s', r + interval '120 s', r + interval '420 s', "
        f"r + interval '2400 s', 40.7 + (g % 100) / 1000.0, -74.0, "
        f"timestamp '{t0:%Y-%m-%d}' + g * interval '1 s' from (select g, timestamp "
        f"'{t0:%Y-%m-%d}' + g * interval '1 min' as r from generate_series({start}, "
        f"{start + n - 1}) g) s;"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=600, help="rows added per poll")
    ap.add_argument("--polls", type=int, default=5)
    args = ap.parse_args()
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        print("bench_watch: PostgreSQL is not installed (make postgres); skipped")
        return
    root = Path(tempfile.mkdtemp(prefix="dispatch-pg-"))
    work = Path(tempfile.mkdtemp(prefix="dispatch-bench-watch-"))
    pg = PgServer(bin_dir, root).start()
    try:
        pg.psql(DEMO_CAD_TABLE)
        (work / "m.toml").write_text(DEMO_CAD_MAPPING)
        prof = load_profile(work / "m.toml")
        w = DatabaseWatch.from_url(
            pg.url, "select * from cad_units", "updated_at", prof, work / "feed_store"
        )
        w.cycle()  # connect and load the extension once
        con = connect_database(pg.url)
        feed, base = [], []
        for k in range(args.polls):
            insert_rows(pg, k * args.rows, args.rows)
            t0 = time.perf_counter()
            rep = w.cycle()
            feed.append(time.perf_counter() - t0)
            assert rep.rows_accepted == args.rows, rep.line()
            # the baseline: the same rows as a Parquet file, ingested directly
            staged = work / f"batch{k}.parquet"
            con.execute(
                f"copy (select * from cad_units where row_id > {k * args.rows} and row_id <= "
                f"{(k + 1) * args.rows}) to '{staged}' (format parquet)"
            )
            t0 = time.perf_counter()
            ingest(staged, prof, data_dir=work / "base_store")
            base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w.cycle()
        empty = time.perf_counter() - t0
        w.close()
        con.close()
        f, b = statistics.median(feed), statistics.median(base)
        print(f"\nLive feed (PostgreSQL), {args.rows} rows per poll, median of {args.polls}")
        print(f"  {'poll cycle (fetch, stage, ingest, cursor)':46s} {f:8.3f} s")
        print(f"  {'baseline: ingest of the same rows (Parquet)':46s} {b:8.3f} s")
        print(f"  {'ratio feed / baseline':46s} {f / b:8.2f}x")
        print(f"  {'empty poll on an open connection':46s} {empty:8.3f} s")
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
