"""The store: an append-only Parquet lake plus a DuckDB catalog of views over it.

The names load on first use (PEP 562): importing a light submodule (``store.permissions``,
``store.crash``) does not import DuckDB and polars, so ``dispatch --help`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import DEFAULT_DATA_DIR, SCHEMA_VERSION, Store, resolve_data_dir

__all__ = ["DEFAULT_DATA_DIR", "SCHEMA_VERSION", "Store", "resolve_data_dir"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import store as _store

        return getattr(_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
