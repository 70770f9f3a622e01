"""The SQL of the catalog's views (``catalog.duckdb``), generated from the store's layout.

``Store`` writes them into ``catalog.duckdb`` when it opens a store whose catalog is missing
or was written for other views (``_catalog_meta``'s digest, :mod:`.store`). Every view reads
the lake's files when it is queried; nothing here reads a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..sql import macro_statements
from ..sql import sql_str as _sql_str
from .assignment_parts import cells_view_sql
from .compacted import COMPACT_COLUMN, COMPACT_MARK, LIVE_MARK
from .derived_sql import dedupe_sql as _dedupe_sql
from .derived_sql import incidents_sql as _incidents_sql
from .derived_sql import interval_view_sql
from .spatial_tables import glob_escape, spatial_view_sql


class ViewSource(Protocol):
    """What the SQL is generated from (:class:`~.store.Store` has it)."""

    root: Path
    derived_current: Path

    def glob(self, kind: str) -> str: ...

    def read_sql(self, kind: str, filename: bool = False) -> str: ...

    def derived_view_sql(self) -> str: ...


__all__ = ["catalog_body", "live_sql", "fresh_files_sql"]


def live_sql(store: ViewSource, kind: str) -> str:
    """The live rows of one kind: not of a removed batch, not under a superseded key,
    and, for a row of a compaction run, listed as live by the run's record.

    **Visibility from one listing of the records, taken before the data's.** The
    records (``supersedes.parquet``: the keys a run hides, and the keys of its own
    files, ``live``) are read by one scan, folded to one row per key (``_visibility``),
    and stand on the left of a right join, so DuckDB binds, and lists, them before the
    data files (``tests/test_compact.py`` checks the order with strace; the former
    ``data anti join records`` listed the data first). A query listing the records
    before a run's rename and the data after sees the old files: the run's rows are not
    live yet and nothing it replaces is hidden. Runs written before live keys existed
    (no :data:`~.compacted.LIVE_MARK` in their name) count without them."""
    key = f"coalesce(b.{COMPACT_COLUMN}, b.batch_id)"
    return (
        f"select b.* from _visibility v right join (select b.* from {store.read_sql(kind)} b "
        "anti join _removed_batches x on x.batch_id = b.batch_id) b "
        f"on v.key = {key} where not coalesce(v.hidden, false) and "
        f"(b.{COMPACT_COLUMN} is null or coalesce(v.live, false) or "
        f"not contains(b.{COMPACT_COLUMN}, {_sql_str(LIVE_MARK + '/')}))"
    )


def catalog_body(store: ViewSource) -> list[str]:
    """The catalog's views and macros, in dependency order (without ``_catalog_meta``)."""
    # a row's key is the batch folder it was ingested into or the compacted file it was
    # moved to; a compaction run's supersedes.parquet hides the keys it replaced
    return [
        "create or replace view _superseded as select distinct key from "
        f"{store.read_sql('supersedes')} where not coalesce(live, false)",
        # one row per key of the records: hidden (a run replaced it), live (a run's own)
        "create or replace view _visibility as select key, "
        "bool_or(not coalesce(live, false)) as hidden, bool_or(coalesce(live, false)) "
        f"as live from {store.read_sql('supersedes')} group by key",
        # batches removed (`dispatch batches remove`, `ingest --replace`): a batch folder's
        # removes.parquet hides them from every view in the same rename that publishes it
        f"create or replace view _removed as select * from {store.read_sql('removes')}",
        "create or replace view _removed_batches as select distinct batch_id "
        "from _removed where batch_id is not null",
        # batches written before rows carried an agency take their profile's name
        f"create or replace view responses_all as select b.* exclude ({COMPACT_COLUMN}) replace "
        f"(coalesce(b.agency, b.profile) as agency) from ({live_sql(store, 'responses')}) b",
        # newest record of each incident/unit wins: most stages, latest last stage, latest
        # batch; within one batch the content decides (row_hash), never the row order
        f"create or replace view responses as {_dedupe_sql('responses_all')}",
        # the derived table's parts, less the rows a newer part supersedes (derived.py)
        store.derived_view_sql(),
        "create or replace view _derived_coverage as select batch_id from read_parquet("
        f"{_sql_str(glob_escape(store.derived_current / 'coverage.parquet'))})",
        # the incidents of batches the derived table does not cover, and of removed batches
        # it still covers, are recomputed live from their remaining rows (or gone): first
        # the unit-row files not covered, from the file listing
        fresh_files_sql(store),
        # keys (any row, live or not: a key too many is recomputed, never wrong) of the
        # files not covered, and of removed batches the derived table still covers.
        # `incident_id >= ''` only lowers DuckDB's estimate of the keys (a NULL id never
        # joins anyway): without it the estimate passed the unit rows' and the semi join
        # below was built on the unit rows, a full scan (docs/store.md, "The fresh part")
        "create or replace view _fresh_incidents as select distinct "
        "coalesce(r.agency, r.profile) as agency, r.incident_id from "
        f"{store.read_sql('responses', filename=True)} r semi join _fresh_files f "
        "on f.file = r.filename where r.incident_id >= '' "
        "union select x.agency, x.incident_id from _removed x "
        "semi join _derived_coverage c on c.batch_id = x.batch_id "
        "where x.incident_id is not null",
        "create or replace view _fresh_responses as "
        + _dedupe_sql(
            "(select * from responses_all r semi join _fresh_incidents f "
            "on f.agency = r.agency and f.incident_id = r.incident_id)"
        ),
        f"create or replace view incidents_live as {_incidents_sql('responses')}",
        "create or replace view incidents as "
        "select d.* from _derived_incidents d anti join _fresh_incidents f "
        "on f.agency = d.agency and f.incident_id = d.incident_id "
        f"union all by name ({_incidents_sql('_fresh_responses')})",
        # long format: one row per incident (unit response) and interval of the registry
        *interval_view_sql(),
        f"create or replace view rejects as select b.* exclude ({COMPACT_COLUMN}) from "
        f"({live_sql(store, 'rejects')}) b",
        f"create or replace view ingest_log as select b.* exclude ({COMPACT_COLUMN}) from "
        f"({live_sql(store, 'ingest_log')}) b order by b.batch_id",
        *spatial_view_sql(store.root),  # zones, stations, incident_zones, incident_cells
        cells_view_sql(store.root),  # incident_cells over its parts (.assignment_parts)
        # nearest-rank percentile and CI macros shared with the queries (sql/_macros.sql)
        *macro_statements(temporary=False),
    ]


def fresh_files_sql(store: ViewSource) -> str:
    """``_fresh_files``: the unit-row files holding rows of a batch the derived table
    does not cover, from the file listing alone (no row is read).

    A batch folder's files hold the rows of that batch only (the folder is named by its
    ``batch_id``); a compaction run's files hold the batches its ``manifest.parquet``
    lists for them, and a file the manifest does not list counts as not covered. The
    ``_init`` folder holds zero-row files."""
    sep = "'system'"
    return (
        "create or replace view _fresh_files as "
        f"with listed as (select file, parse_filename(parse_dirpath(file, {sep}), false, "
        f"{sep}) as folder, parse_filename(file, false, {sep}) as name from "
        f"glob({_sql_str(store.glob('responses'))})), "
        f"manifests as (select parse_filename(parse_dirpath(filename, {sep}), false, {sep}) "
        f"as run, file as name, batch_id from {store.read_sql('manifest', filename=True)}), "
        "held as (select l.file, if(contains(l.folder, "
        f"{_sql_str(COMPACT_MARK)}), m.batch_id, l.folder) as batch_id from listed l "
        "left join manifests m on m.run = l.folder and m.name = l.name "
        "where l.folder <> '_init') "
        "select distinct h.file from held h anti join _derived_coverage c "
        "on c.batch_id = h.batch_id"
    )
