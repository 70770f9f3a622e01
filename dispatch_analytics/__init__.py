"""dispatch-analytics: open, offline, SQL-first emergency dispatch analytics."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import DispatchError, IngestError, ProfileError, QueryError, StoreError  # noqa: E402
from .ingest import REJECT_REASONS, IngestReport, ingest  # noqa: E402
from .profiles import SourceProfile, builtin_profiles, load_profile  # noqa: E402
from .store import Store  # noqa: E402

__all__ = [
    "__version__",
    "DispatchError",
    "IngestError",
    "ProfileError",
    "QueryError",
    "StoreError",
    "REJECT_REASONS",
    "IngestReport",
    "ingest",
    "SourceProfile",
    "builtin_profiles",
    "load_profile",
    "Store",
]
