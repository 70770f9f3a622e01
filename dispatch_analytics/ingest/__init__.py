"""The ingest layer: source profiles, and raw rows -> canonical, validated rows or rejects.

Each input file is one *batch*: read in chunks (bounded memory), mapped through a source
profile, parsed in the agency time zone, validated; accepted rows and rejected rows (each
with a reason) are written to a staging folder that is renamed into the lake only when the
whole file is done (:mod:`dispatch_analytics.store.batches`). For every file, rows read =
rows accepted + rows rejected.

Modules: :mod:`.profiles` (the mapping TOML), :mod:`.columns` (the column mapping),
:mod:`.times` and :mod:`.localtime` (time fields, DST), :mod:`.coordinates`, :mod:`.rules`
(the validation rules), :mod:`.normalize` (one chunk), :mod:`.results` (what is reported),
:mod:`.template` (drafting a profile from a file).

The package facade sets ``dispatch_analytics.ingest`` to the *function*; import from the
submodules (``from dispatch_analytics.ingest.results import IngestReport``).
"""

from .columns import check_columns
from .normalize import normalize_chunk
from .results import REJECT_REASONS, FileResult, IngestReport, ProgressFn

__all__ = [
    "REJECT_REASONS",
    "FileResult",
    "IngestReport",
    "ProgressFn",
    "check_columns",
    "normalize_chunk",
]
