"""dispatch-analytics: open, offline, SQL-first emergency dispatch analytics.

The public API; see ``docs/architecture.md`` for the layers behind it.
"""

from __future__ import annotations

from . import api as _api
from ._version import __version__
from .errors import DispatchError, IngestError, ProfileError, QueryError, StoreError
from .ingest.profiles import SourceProfile, builtin_profiles, load_profile
from .ingest.results import REJECT_REASONS, IngestReport
from .store import Store

#: The ingest function (it shadows the ``ingest`` subpackage as an attribute of the package,
#: on purpose: ``from dispatch_analytics import ingest`` has always given the function).
ingest = _api.ingest

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
