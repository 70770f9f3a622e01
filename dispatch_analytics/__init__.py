"""dispatch-analytics: open, offline, SQL-first emergency dispatch analytics.

The public API; see ``docs/architecture.md`` for the layers behind it.

The names are loaded on first use (PEP 562), so ``import dispatch_analytics.cli`` (every
``dispatch`` command) does not pay for the ingest pipeline, DuckDB and polars before it knows
the command needs them.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import DispatchError, IngestError, ProfileError, QueryError, StoreError

if TYPE_CHECKING:
    from .api import ingest
    from .ingest.profiles import SourceProfile, builtin_profiles, load_profile
    from .ingest.results import REJECT_REASONS, IngestReport
    from .store import Store

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

#: name -> the module that defines it (imported on first use)
_LAZY = {
    "REJECT_REASONS": ".ingest.results",
    "IngestReport": ".ingest.results",
    "SourceProfile": ".ingest.profiles",
    "builtin_profiles": ".ingest.profiles",
    "load_profile": ".ingest.profiles",
    "Store": ".store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Facade(types.ModuleType):
    """The package module: ``ingest`` is the ingest function, on purpose (it shadows the
    ``ingest`` subpackage as an attribute of the package, as it always has: ``from
    dispatch_analytics import ingest`` gives the function). The import system binds the
    subpackage to the attribute when it is first imported; the setter keeps the function."""

    @property
    def ingest(self):  # noqa: D401 - the function itself
        from .api import ingest as _ingest

        return _ingest

    @ingest.setter
    def ingest(self, value) -> None:
        pass  # the subpackage being bound by the import system: keep the function


sys.modules[__name__].__class__ = _Facade
