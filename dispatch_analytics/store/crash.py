"""The crash hook: named stages at which a writing process kills itself (``SIGKILL``).

Set ``DISPATCH_CRASH_AT=<stage>`` and the first writer step reaching that stage dies at once
(``os.kill(os.getpid(), signal.SIGKILL)``: no ``finally``, no atexit, no flush), just like
``kill -9`` or a power cut between two steps. ``tests/test_crash.py`` runs every writer of the
command line once per stage and checks that the store is consistent afterwards. Unset, a
stage costs one dictionary lookup.

:data:`WRITER_STAGES` lists the stages of each writer in the order they are reached.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "WRITER_STAGES", "FOLD_STAGES", "crash_point", "file_stages"]

#: The environment variable naming the stage to die at.
CRASH_ENV = "DISPATCH_CRASH_AT"


def crash_point(stage: str) -> None:
    """Kill this process with ``SIGKILL`` if ``$DISPATCH_CRASH_AT`` names ``stage``.

    Parameters
    ----------
    stage : str
        The stage reached, e.g. ``"ingest.published"`` (see :data:`WRITER_STAGES`).
    """
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


def file_stages(prefix: str) -> tuple[str, ...]:
    """The stages of one file written through a temporary name and renamed into place
    (:func:`~dispatch_analytics.store.spatial_tables.atomic_write`): before the write,
    after the write (before the rename), after the rename."""
    return (f"{prefix}.begin", f"{prefix}.written", f"{prefix}.renamed")


_DERIVED = (
    "derived.begin",  # before the derived incidents table is rebuilt
    "derived.written",  # new table folder written, not linked
    "derived.linked",  # new `current` link made under a temporary name
    "derived.swapped",  # `current` replaced (one rename), older tables not yet deleted
    "derived.done",
)
_ASSIGN = (
    "assign.begin",  # before the zone / H3 assignment
    *file_stages("assign.layer"),  # the first layer's incident_zones file
    "assign.layers_done",  # every layer written, stale files not yet deleted
    *file_stages("assign.cells"),  # incident_cells.parquet
    *file_stages("assign.stamp"),  # spatial/assigned.parquet: the batches covered
)
_PUBLISH = (
    "ingest.chunks_written",  # rows staged in lake/_tmp, no ingest-log row yet
    "ingest.log_written",  # the staged batch is complete
    "ingest.published",  # the batch folder renamed into lake/batches
)
_PURGE = ("purge.renamed", "purge.done")  # a removed folder moved to lake/_tmp; all deleted

#: Every writer's stages, in the order a run reaches them.
WRITER_STAGES: dict[str, tuple[str, ...]] = {
    "ingest": ("ingest.locked", *_PUBLISH, *_DERIVED, *_ASSIGN),
    "ingest_replace": (
        "ingest.locked",
        "ingest.removal_written",
        *_PUBLISH,
        *_PURGE,
        *_DERIVED,
        *_ASSIGN,
    ),
    "batches_remove": (
        "remove.locked",
        "remove.record_written",
        "remove.published",
        *_PURGE,
        *_DERIVED,
        *_ASSIGN,
    ),
    "zones_load": (
        "zones.locked",
        *file_stages("zones.assignment"),  # the new layer's incident_zones (invisible)
        *file_stages("zones.layer"),  # the layer file: its rename publishes both
        "zones.cleaned",  # the old generation's assignment deleted
    ),
    "compact": (
        "compact.locked",
        "compact.staged",  # the run folder complete in lake/_tmp, not published
        "compact.published",  # renamed into lake/batches: new files shown, old ones hidden
        "compact.purge.renamed",  # a replaced folder / file moved to lake/_tmp (grace 0)
        "compact.done",
    ),
    "stations_load": ("stations.locked", *file_stages("stations.file")),
    "units_load": ("units.locked", *file_stages("units.file")),
    "units_derive": ("units.locked", *file_stages("units.file")),
}

#: Stages of folding an assignment table's parts into part 0
#: (:func:`~dispatch_analytics.store.assignment_parts.publish_whole`), reached only when a
#: table's parts are due to be folded (so not by the matrix of ``tests/test_crash.py``, whose
#: store has no parts; ``tests/test_incremental.py`` kills an ingest at each of them).
FOLD_STAGES: tuple[str, ...] = tuple(
    f"{table}.fold.{step}"
    for table in ("assign.layer", "assign.cells")
    for step in ("unstamped", "emptied", "renamed")
)
