"""The store: an append-only Parquet lake plus a DuckDB catalog of views over it."""

from .store import DEFAULT_DATA_DIR, SCHEMA_VERSION, Store, resolve_data_dir

__all__ = ["DEFAULT_DATA_DIR", "SCHEMA_VERSION", "Store", "resolve_data_dir"]
