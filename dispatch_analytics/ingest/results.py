"""What an ingest reports: the reject reasons, one :class:`FileResult` per input file, the
:class:`IngestReport` of a whole call, and the progress callback's signature."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["REJECT_REASONS", "FileResult", "IngestReport", "ProgressFn"]

#: Every reason a source row can be rejected for, with what it means.
REJECT_REASONS: dict[str, str] = {
    "malformed_row": "a row with more or fewer fields than the header (a truncated or "
    "shifted row); the raw text is kept",
    "bad_encoding": "a row holding bytes that are not valid UTF-8 in an otherwise UTF-8 file "
    "(the byte offset is in the detail)",
    "duplicate_row": "an exact copy of an earlier row (in this file or already stored)",
    "missing_id": "incident_id (or unit_id, for unit-grain sources, or a mapped agency "
    "column without a default) is blank",
    "unparseable_time": "call_received_at (any stage with on_stage_error = 'reject') matches "
    "none of the profile's timestamp formats",
    "nonexistent_local_time": "call_received_at (any stage with on_stage_error = 'reject') is a "
    "local time inside a spring-forward gap",
    "missing_time": "call_received_at is blank",
    "unknown_status": "a status log's event has a status code the profile's statuses table "
    "does not map (or none)",
    "stage_order": "on_stage_error = 'reject' only: a stage is earlier than a stage that must "
    "precede it",
    "interval_too_long": "on_stage_error = 'reject' only: a gap between response stages "
    "exceeds max_interval_s, or the record spans more than max_span_s",
    "missing_coordinates": "latitude / longitude (or location) is blank",
    "unparseable_coordinates": "a coordinate is not a number / the location text is not "
    "'(lat, lon)' or 'POINT (lon lat)'",
    "zero_coordinates": "coordinates are (0, 0), a common CAD placeholder",
    "coordinates_out_of_range": "latitude outside [-90, 90] or longitude outside [-180, 180]",
    "coordinates_out_of_area": "coordinates outside the profile's bbox",
}

#: ``progress(source, rows_read_so_far, estimated_rows_or_None)``, called after each chunk.
ProgressFn = Callable[[str, int, int | None], None]


@dataclass
class FileResult:
    """What happened to one input file."""

    source: str
    batch_id: str | None = None
    skipped_as: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    #: accepted rows without usable coordinates (kept, ``location_flag`` says why), per rule
    unlocated_by_reason: dict[str, int] = field(default_factory=dict)
    #: accepted rows with at least one stage excluded (``stage_flags``)
    rows_flagged: int = 0
    #: status logs: unknown (or blank) status codes and how many events had them
    unknown_statuses: dict[str, int] = field(default_factory=dict)
    incidents: int = 0
    units: int = 0
    first_received_at: datetime | None = None
    last_received_at: datetime | None = None
    encoding: str | None = None
    #: why the encoding was chosen, when that needs saying (8-bit fallback, invalid bytes)
    encoding_note: str | None = None
    #: the kind of file found from its content (csv, excel, parquet, ndjson) and any unpacking
    kind: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        """True when the same file content had already been ingested (nothing added)."""
        return self.skipped_as is not None


@dataclass
class IngestReport:
    """The result of one :func:`ingest` call (one batch per file)."""

    files: list[FileResult]
    profile: str
    dry_run: bool = False
    #: per zone layer: incidents assigned / outside / without coordinates after the ingest
    zone_counts: dict[str, dict[str, int]] | None = None

    @property
    def rows_read(self) -> int:
        """Rows read from every file."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        """Rows accepted from every file."""
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_rejected(self) -> int:
        """Rows rejected from every file."""
        return sum(f.rows_rejected for f in self.files)

    @property
    def rejects_by_reason(self) -> dict[str, int]:
        """Rejected rows per reason over every file, most frequent first."""
        total: Counter = Counter()
        for f in self.files:
            total.update(f.rejects_by_reason)
        return dict(total.most_common())

    @property
    def first_received_at(self) -> datetime | None:
        """The earliest accepted ``call_received_at`` over every file."""
        vals = [f.first_received_at for f in self.files if f.first_received_at]
        return min(vals) if vals else None

    @property
    def last_received_at(self) -> datetime | None:
        """The latest accepted ``call_received_at`` over every file."""
        vals = [f.last_received_at for f in self.files if f.last_received_at]
        return max(vals) if vals else None
