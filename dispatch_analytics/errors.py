"""Library exceptions. The CLI translates these into messages and exit codes at the edge."""

from __future__ import annotations

__all__ = [
    "DispatchError",
    "ProblemsError",
    "ProfileError",
    "ZoneError",
    "StationError",
    "UnitError",
    "CoverageError",
    "MetricError",
    "StandardError",
    "IngestError",
    "StoreError",
    "QueryError",
    "SampleError",
    "AgencyError",
    "AnalysisError",
    "ExportError",
    "FeedError",
]


class DispatchError(Exception):
    """Base class of every error the library raises on purpose."""


class ProblemsError(DispatchError, ValueError):
    """Validation found problems; ``.problems`` lists each, the message shows them all."""

    def __init__(self, problems: list[str] | str, head: str | None = None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if head is None:
            msg = "\n".join(self.problems)
        elif len(self.problems) == 1:
            msg = f"{head}: {self.problems[0]}"
        else:
            msg = head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(msg)


class ProfileError(ProblemsError):
    """A source profile (mapping TOML) is invalid. The message lists every problem found."""

    def __init__(self, problems: list[str] | str, source: str | None = None):
        self.source = source
        super().__init__(problems, f"invalid profile {source}" if source else "invalid profile")


class ZoneError(ProblemsError):
    """A zone layer (or an argument about one) is invalid. The message lists every problem."""


class StationError(ProblemsError):
    """A station file (or an argument about it) is invalid. The message lists every problem."""


class UnitError(ProblemsError):
    """A unit list (or a rule deriving home stations) is invalid. The message lists every
    problem."""


class CoverageError(ProblemsError):
    """A planning request (gaps, travel model, coverage, what-if, siting) is invalid or cannot
    be answered; the message names the item and the fix."""


class IngestError(DispatchError):
    """An input file cannot be read at all (as opposed to bad rows, which go to rejects)."""


class StoreError(DispatchError):
    """The data directory or catalog is unusable, or another writer holds the lock."""


class QueryError(DispatchError):
    """A SQL query failed or was refused."""


class SampleError(DispatchError, ValueError):
    """An argument of the sample-city generator is invalid, or its output cannot be written."""


class MetricError(DispatchError, ValueError):
    """An invalid metric request (unknown metric, layer, grouping, ...); the message lists the
    valid choices."""


class StandardError(DispatchError, ValueError):
    """A standards profile or its overrides are invalid; the message names the fix."""


class AnalysisError(ProblemsError):
    """An invalid analysis request (hotspots, reliability, impact): unknown metric, layer or
    zone, a bad date or period, an unusable roster. The message lists every problem and says
    the fix."""


class ExportError(ProblemsError):
    """An export or a map cannot be written (unknown format, extension mismatch, unwritable
    path, empty layer, undocumented column ...). The message lists every problem, each with
    its fix."""


class AgencyError(DispatchError, ValueError):
    """An unknown agency, or a store of several agencies where one must be chosen; the message
    lists the agencies and says how to choose."""


class FeedError(DispatchError):
    """A live feed (``dispatch watch``) cannot run: the drop folder is missing, the database
    is unreachable or refuses the query, the cursor column is unknown, or the feed's state
    file is unusable. The message names the item and says the fix."""
