"""The zone and H3 assignment files in parts: a batch writes the changed incidents' rows as
a new part instead of rewriting the whole file (the geometry is in
:mod:`dispatch_analytics.spatial.changed`).

Each assignment *table* (one per zone layer and generation, and the H3 cells) is a base file
and numbered parts beside it, all read by the view's one glob::

    spatial/incident_zones/<layer>.<generation>.parquet          part 0 (a full assignment)
    spatial/incident_zones/<layer>.<generation>.p00001.parquet   the incidents one batch changed
    spatial/incident_cells.parquet, incident_cells.p00001.parquet ...

**The parts of a table never share a key**, so the view is a plain union (no mask, no
anti-join: the ``incident_zones`` view's glob already reads them). A batch first rewrites the
parts that hold one of its changed keys without those rows (usually none: a new incident is
in no part; a supersede of a recent incident hits a small recent part), then writes the new
part, each by one rename. In between, the changed incidents are missing, never doubled: the
same state as between a batch's publish and its assignment, redone by the next writer (the
stamp ``spatial/assigned.parquet`` still names the batches before).

**Folding.** When a table has more than :data:`MAX_PARTS` parts holding rows, or they hold
more than :data:`MAX_PART_SHARE` of part 0's rows, the parts are folded into part 0: the
stamp is deleted first (a writer killed during the fold leaves no stamp, so the next one
assigns every incident again), the merged table is written to a temporary file, every part is
replaced by an empty file, and the temporary file is renamed over part 0. Emptied parts stay
on disk (a reader that listed one opens an empty file, never a missing one) and are deleted
by a writer :data:`EMPTY_GRACE_S` seconds later. ``dispatch compact`` folds every table.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import polars as pl

from ..sql import sql_str as _sql_str
from .crash import crash_point
from .spatial_tables import (
    assigned_path,
    atomic_write,
    cells_path,
    fsync_dir,
    glob_escape,
    incident_zones_dir,
    incident_zones_path,
    layer_generations,
    schema_path,
    spatial_lock,
    tmp_name,
)

__all__ = [
    "MAX_PARTS",
    "MAX_PART_SHARE",
    "EMPTY_GRACE_S",
    "table_files",
    "part_rows",
    "apply_changed",
    "publish_whole",
    "fold_table",
    "fold_assignment",
    "clean_parts",
    "cells_view_sql",
]

#: Parts holding rows a table may have before a batch folds them into part 0.
MAX_PARTS = 16
#: ... or when the parts hold more than this share of part 0's rows (at least 1,000 rows).
MAX_PART_SHARE = 0.25
#: Seconds an emptied part stays on disk for readers that listed it.
EMPTY_GRACE_S = 600.0

_PART = re.compile(r"(?P<stem>.+)\.p(?P<n>\d{5})\.parquet")
_ON = ["agency", "incident_id"]


def _part_path(base: Path, n: int) -> Path:
    return base.with_name(f"{base.name[: -len('.parquet')]}.p{n:05d}.parquet")


def _parts(base: Path) -> list[tuple[int, Path]]:
    """(number, path) of the parts of the table whose part 0 is ``base``, in order."""
    stem = base.name[: -len(".parquet")]
    out = []
    for p in base.parent.glob(f"{glob_escape(stem)}.p*.parquet"):
        m = _PART.fullmatch(p.name)
        if m and m.group("stem") == stem:
            out.append((int(m.group("n")), p))
    return sorted(out)


def table_files(base: Path) -> list[Path]:
    """Part 0 (when it exists) and the parts of one assignment table, in order."""
    return ([base] if base.is_file() else []) + [p for _, p in _parts(base)]


def part_rows(path: Path) -> int:
    """Rows of one file (from the Parquet footer, no data read)."""
    return int(pl.scan_parquet(path, glob=False).select(pl.len()).collect().item())


def _holding(files: list[Path], keys: pl.DataFrame) -> list[Path]:
    """The files holding a row of one of ``keys`` (only their key columns are read; a cheap
    ``is_in`` on the ids first, the exact semi-join on the few rows it hits)."""
    ids = keys["incident_id"].implode()
    out = []
    for f in files:
        hit = (
            pl.scan_parquet(f, glob=False)
            .select(_ON)
            .filter(pl.col("incident_id").is_in(ids))
            .collect()
        )
        if hit.height and hit.cast(pl.String).join(keys, on=_ON, how="semi").height:
            out.append(f)
    return out


def _without(path: Path, keys: pl.DataFrame) -> pl.DataFrame:
    old = pl.read_parquet(path)
    return old.join(keys, on=_ON, how="anti")


def _needs_fold(files: list[Path], base: Path) -> bool:
    parts = [f for f in files if f != base]
    counts = [part_rows(f) for f in parts]
    full = [n for n in counts if n]
    if len(full) > MAX_PARTS:
        return True
    base_rows = part_rows(base) if base.is_file() else 0
    return sum(full) > max(1000, MAX_PART_SHARE * base_rows)


def _keyed(keys: pl.DataFrame) -> pl.DataFrame:
    return keys.select(pl.col(c).cast(pl.String) for c in _ON).unique()


def apply_changed(root, base: Path, keys: pl.DataFrame, new: pl.DataFrame, stage: str) -> None:
    """Replace the rows of ``keys`` in the table of ``base`` by ``new`` (the changed
    incidents' rows as they are now; a removed incident has none): the parts holding one of
    the keys are rewritten without them, then ``new`` is written as a new part (each by one
    rename, the crash-hook stage ``stage``); the parts are folded into part 0 when due.
    Idempotent (a killed run is redone the same way)."""
    keys = _keyed(keys)
    files = table_files(base)
    if not base.is_file():  # no full assignment yet: the table is the changed rows
        publish_whole(root, base, new, stage)
        return
    schema = pl.scan_parquet(base, glob=False).collect_schema()
    new = new.select(list(schema)).cast(dict(schema))  # type: ignore[arg-type]
    if _needs_fold(files, base):
        merged = pl.concat([_without(f, keys) for f in files] + [new], how="vertical_relaxed")
        publish_whole(root, base, merged, stage)
        return
    for f in _holding(files, keys):  # usually none; rows missing until `new`, never doubled
        atomic_write(f, _without(f, keys).write_parquet, stage)
    if new.height:
        last = _parts(base)
        atomic_write(_part_path(base, (last[-1][0] if last else 0) + 1), new.write_parquet, stage)


def publish_whole(root, base: Path, frame: pl.DataFrame, stage: str) -> None:
    """Make ``frame`` the whole table of ``base``: part 0, every part emptied. With parts
    holding rows, the stamp is deleted first (killed in between, the next writer assigns
    every incident again) and the parts are emptied just before part 0's rename."""
    full = [p for _, p in _parts(base) if part_rows(p)]
    if not full:
        atomic_write(base, frame.write_parquet, stage)
        return
    assigned_path(root).unlink(missing_ok=True)
    fsync_dir(assigned_path(root).parent)
    crash_point(f"{stage}.fold.unstamped")
    tmp = tmp_name(base)
    try:
        frame.write_parquet(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        empty = frame.clear()
        for p in full:
            atomic_write(p, empty.write_parquet)
        crash_point(f"{stage}.fold.emptied")  # the parts' rows missing until the rename
        os.replace(tmp, base)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(base.parent)
    crash_point(f"{stage}.fold.renamed")


def fold_table(root, base: Path, stage: str = "assign.fold") -> bool:
    """Fold the parts of one table into part 0 (``dispatch compact``); True if any held
    rows."""
    files = table_files(base)
    if not base.is_file() or not any(part_rows(f) for f in files if f != base):
        return False
    merged = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
    publish_whole(root, base, merged, stage)
    return True


def fold_assignment(root) -> int:
    """Fold the parts of every assignment table (each zone layer's and the H3 cells') into
    part 0, under the spatial lock (``dispatch compact``). The stamp of the batches covered
    is kept (a fold changes no assignment). Returns how many tables were folded."""
    stamp = assigned_path(root)
    with spatial_lock(root):
        saved = stamp.read_bytes() if stamp.is_file() else None
        bases = [
            incident_zones_path(root, layer, g) for layer, g in layer_generations(root).items()
        ]
        folded = sum(fold_table(root, b) for b in [*bases, cells_path(root)])
        if folded and saved is not None and not stamp.is_file():
            atomic_write(stamp, lambda p: Path(p).write_bytes(saved))
        clean_parts(root)
    return folded


def clean_parts(root, grace_s: float = EMPTY_GRACE_S) -> list[Path]:
    """Delete parts no view needs (call under the spatial lock): parts of a layer or
    generation no longer loaded, parts of a table without part 0, and emptied parts older
    than ``grace_s`` seconds. Returns them."""
    gens = layer_generations(root)
    live = {f"{layer}.{g}" if g is not None else layer for layer, g in gens.items()}
    gone = []
    now = time.time()
    zdir = incident_zones_dir(root)
    cells = cells_path(root)
    candidates = list(zdir.glob("*.p*.parquet")) if zdir.is_dir() else []
    candidates += list(cells.parent.glob(f"{cells.name[: -len('.parquet')]}.p*.parquet"))
    for p in sorted(candidates):
        m = _PART.fullmatch(p.name)
        if m is None:
            continue
        stem = m.group("stem")
        orphan = p.parent == zdir and stem not in live
        orphan = orphan or not (p.parent / f"{stem}.parquet").is_file()
        try:
            old_empty = part_rows(p) == 0 and now - p.stat().st_mtime > grace_s
        except (OSError, pl.exceptions.PolarsError):
            old_empty = False
        if orphan or old_empty:
            p.unlink(missing_ok=True)
            gone.append(p)
    for d in {p.parent for p in gone}:
        fsync_dir(d)
    return gone


def cells_view_sql(root) -> str:
    """The ``incident_cells`` view over part 0 and the parts (replaces the one of
    :func:`~.spatial_tables.spatial_view_sql`, which reads part 0 only)."""
    root = Path(root).resolve()
    cells = cells_path(root)
    glob = glob_escape(cells.parent) + "/" + cells.name[: -len(".parquet")] + "*.parquet"
    schema = glob_escape(schema_path(root, "incident_cells"))
    return (
        "create or replace view incident_cells as select agency, incident_id, "
        f"resolution::TINYINT as resolution, h3_cell from read_parquet([{_sql_str(glob)}, "
        f"{_sql_str(schema)}], union_by_name = true)"
    )
