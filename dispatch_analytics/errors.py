"""Library exceptions. The CLI translates these into messages and exit codes at the edge."""

from __future__ import annotations

__all__ = [
    "DispatchError",
    "ProfileError",
    "IngestError",
    "StoreError",
    "QueryError",
    "SampleError",
]


class DispatchError(Exception):
    """Base class of every error the library raises on purpose."""


class ProfileError(DispatchError, ValueError):
    """A source profile (mapping TOML) is invalid. The message lists every problem found."""

    def __init__(self, problems: list[str] | str, source: str | None = None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        head = f"invalid profile {source}" if source else "invalid profile"
        if len(self.problems) == 1:
            msg = f"{head}: {self.problems[0]}"
        else:
            msg = head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(msg)


class IngestError(DispatchError):
    """An input file cannot be read at all (as opposed to bad rows, which go to rejects)."""


class StoreError(DispatchError):
    """The data directory or catalog is unusable, or another writer holds the lock."""


class QueryError(DispatchError):
    """A SQL query failed or was refused."""


class SampleError(DispatchError, ValueError):
    """An argument of the sample-city generator is invalid, or its output cannot be written."""
