"""Named standards profiles (targets, percentiles, call-category rules) and the metric registry.

A profile is a TOML file: built-in ones live in ``dispatch_analytics/standards/`` (``nfpa1710``,
``nfpa1225``, ``nfpa1720``, ``cfai``); any other path works too. A config TOML overrides any of
its numbers::

    [targets.turnout]          # an entry name, or a metric name (= every entry of that metric)
    target_s = 70
    [targets.total_response]   # a metric the profile lacks: a new entry
    target_s = 500
    [staffing]
    ENGINE = 3
    [demand_zones.suburban]
    percentile = 90

Every entry names its metric, the start and end timestamps, target_s, percentile and optional
``call_category`` / ``unit_type`` filters. Percentiles are nearest-rank everywhere
(:data:`PERCENTILE_METHOD`).

This module holds the profile classes, the built-in profiles and :func:`load_standard`;
reading and validating a profile TOML and its overrides is :mod:`.standards_toml`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import MetricError, StandardError
from ..schema.intervals import (
    LEVELS,
    Interval,
    find_interval,
    get_interval,
    interval_names,
    intervals,
)
from .standards_toml import ProfileModel, apply_overrides, read_overrides, read_profile

__all__ = [
    "PERCENTILE_METHOD",
    "METRICS",
    "LEVELS",
    "MetricDef",
    "TargetSpec",
    "DemandZone",
    "Standard",
    "StandardError",
    "builtin_standards",
    "list_standards",
    "load_standard",
    "metric_def",
]

PERCENTILE_METHOD = "nearest-rank"
STANDARDS_DIR = Path(__file__).resolve().parent / "builtin_standards"


#: One response interval: name, level, start and end timestamps, basis, description (the entry
#: of the interval registry, :class:`dispatch_analytics.schema.intervals.Interval`).
MetricDef = Interval


class _Metrics(Mapping):
    """(metric, level) -> definition: a live view of the interval registry."""

    def __getitem__(self, key: tuple[str, str]) -> Interval:
        iv = find_interval(*key) if isinstance(key, tuple) and len(key) == 2 else None
        if iv is None:
            raise KeyError(key)
        return iv

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([(iv.name, iv.level) for iv in intervals()])

    def __len__(self) -> int:
        return len(intervals())


#: (metric, level) -> definition. The engine computes exactly these intervals.
METRICS: Mapping[tuple[str, str], Interval] = _Metrics()


def metric_names(level: str | None = None) -> list[str]:
    """Metric names (of one level, or all)."""
    return interval_names(level)


def metric_def(name: str, level: str = "incident") -> MetricDef:
    """The definition of one metric at one level; :class:`StandardError` names valid choices."""
    try:
        return get_interval(name, level)
    except MetricError as exc:
        raise StandardError(str(exc)) from None


@dataclass(frozen=True)
class DemandZone:
    """NFPA 1720 demand zone: staff to assemble, time allowed, share of calls that must meet it."""

    name: str
    staff: int
    target_s: float | None
    percentile: float
    description: str = ""
    target_note: str | None = None
    note: str = ""


@dataclass(frozen=True)
class TargetSpec:
    """One target of a profile (an "entry")."""

    key: str
    metric: str
    level: str
    start: str
    end: str
    target_s: float | None
    percentile: float
    call_category: tuple[str, ...] | None = None
    unit_type: tuple[str, ...] | None = None
    staff: int | None = None
    by_density_class: bool = False
    baseline_s: float | None = None
    source: str = ""
    note: str = ""
    #: ``((agency, call types), ...)``: only these call types (case-insensitive), per agency;
    #: agency ``default`` for the agencies not named. None: every call type.
    call_types: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    #: how outputs name the entry (e.g. "Turnout, EMS"); empty: the interval's label
    label: str = ""

    def call_types_for(self, agency: str | None) -> tuple[str, ...] | None:
        """The call types this entry counts for one agency (None: every call type; an empty
        tuple: none of this agency's calls)."""
        if not self.call_types:
            return None
        rules = dict(self.call_types)
        if agency is not None and agency in rules:
            return rules[agency]
        return rules.get("default", ())

    def calls_text(self, agency: str | None = None) -> str:
        """Which calls the entry counts, in words: ``"all calls"``, ``"ems calls"``,
        ``"Structure Fire"`` (the agency's call types when the entry restricts them)."""
        parts = []
        if self.call_types:
            if agency is None or isinstance(agency, list | tuple):
                rules = dict(self.call_types)
                parts.append(
                    "; ".join(
                        f"{a}: {', '.join(t) or 'none'}" if a != "default" else ", ".join(t)
                        for a, t in rules.items()
                    )
                )
            else:
                types = self.call_types_for(agency)
                parts.append(", ".join(types or ()) or "no call type of this agency")
        elif self.call_category:
            parts.append(" and ".join(self.call_category) + " calls")
        if self.unit_type:
            parts.append("units " + "/".join(self.unit_type))
        return "; ".join(parts) or "all calls"

    @property
    def display(self) -> str:
        """How outputs name the entry: its ``label``, else the key in words."""
        return self.label or self.key.replace("_", " ")

    @property
    def definition(self) -> MetricDef:
        """The metric this entry measures (see :func:`metric_def`)."""
        return metric_def(self.metric, self.level)

    def describe(self) -> str:
        """One line: entry, metric, level, start -> end, target @ percentile, filters."""
        flt = []
        if self.call_category:
            flt.append("call_category " + "/".join(self.call_category))
        if self.unit_type:
            flt.append("unit_type " + "/".join(self.unit_type))
        if self.call_types:
            flt.append("call types " + self.calls_text())
        tgt = (
            "by demand zone"
            if self.by_density_class
            else ("no target" if self.target_s is None else f"{self.target_s:g} s")
        )
        extra = f" [{'; '.join(flt)}]" if flt else ""
        return (
            f"{self.key}: {self.metric} ({self.level}) {self.start} -> {self.end}, "
            f"{tgt} @ p{self.percentile:g}{extra}"
        )


@dataclass
class Standard:
    """A loaded standards profile (after overrides)."""

    name: str
    title: str
    description: str
    path: Path | None
    targets: tuple[TargetSpec, ...]
    staffing: dict[str, int] = field(default_factory=dict)
    default_staff: int = 0
    demand_zones: dict[str, DemandZone] = field(default_factory=dict)
    defaults: bool = False
    overrides: list[str] = field(default_factory=list)
    percentile_method: str = PERCENTILE_METHOD
    #: call categories no objective judges (``[scope] exclude_call_categories``; the fire and
    #: EMS built-ins leave ``police`` out); empty: every call
    exclude_call_categories: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        """How sentences name the profile: ``NFPA 1710`` for ``nfpa1710``, else its name."""
        import re

        m = re.fullmatch(r"(nfpa)(\d+)", self.name.lower())
        return (
            f"NFPA {m.group(2)}" if m else self.name.upper() if self.name == "cfai" else self.name
        )

    def scope_text(self, counts: Mapping[str, int] | None = None) -> str | None:
        """One line on the calls the profile leaves out, e.g. ``"312 police calls not judged
        against NFPA 1710 (its [scope] leaves them out)"``; None when it leaves none out (or
        ``counts`` says none were in the data)."""
        if not self.exclude_call_categories:
            return None
        if counts is None:
            cats = " and ".join(self.exclude_call_categories)
            return f"{cats} calls are not judged against {self.display_name} (its [scope])"
        parts = [f"{counts[c]:,} {c}" for c in self.exclude_call_categories if counts.get(c)]
        if not parts:
            return None
        return (
            f"{' and '.join(parts)} calls not judged against {self.display_name} (its [scope] "
            "leaves them out; set [scope] exclude_call_categories = [] in --config to judge them)"
        )

    @property
    def keys(self) -> list[str]:
        """Entry names, in profile order."""
        return [t.key for t in self.targets]

    def entries(self, metric: str | None = None, level: str | None = None) -> list[TargetSpec]:
        """The entries of one metric (and level), in profile order."""
        return [
            t
            for t in self.targets
            if (metric is None or t.metric == metric) and (level is None or t.level == level)
        ]

    def has_entry(self, key: str) -> bool:
        """Whether the profile has an entry of this name."""
        return key in self.keys

    def entry(self, key: str) -> TargetSpec:
        """One entry by name; :class:`StandardError` lists the entries."""
        for t in self.targets:
            if t.key == key:
                return t
        raise StandardError(
            f"profile {self.name} has no entry {key!r}; entries: {', '.join(self.keys)}"
        )

    def describe(self) -> pl.DataFrame:
        """One row per entry: profile, entry, metric, level, start, end, target_s, percentile,
        call_category, unit_type, staff, baseline_s, percentile_method, source, note."""
        rows = []
        for t in self.targets:
            zones = [None] if not t.by_density_class else list(self.demand_zones.values())
            for z in zones:
                rows.append(
                    {
                        "profile": self.name,
                        "entry": t.key,
                        "metric": t.metric,
                        "level": t.level,
                        "start": t.start,
                        "end": t.end,
                        "density_class": z.name if z else None,
                        "target_s": z.target_s if z else t.target_s,
                        "percentile": z.percentile if z else t.percentile,
                        "call_category": ", ".join(t.call_category) if t.call_category else None,
                        "call_types": t.calls_text() if t.call_types else None,
                        "unit_type": ", ".join(t.unit_type) if t.unit_type else None,
                        "staff": z.staff if z else t.staff,
                        "baseline_s": t.baseline_s,
                        "percentile_method": self.percentile_method,
                        "source": t.source,
                        "note": (z.note or z.target_note or "") if z else t.note,
                    }
                )
        schema = {
            "profile": pl.String,
            "entry": pl.String,
            "metric": pl.String,
            "level": pl.String,
            "start": pl.String,
            "end": pl.String,
            "density_class": pl.String,
            "target_s": pl.Float64,
            "percentile": pl.Float64,
            "call_category": pl.String,
            "call_types": pl.String,
            "unit_type": pl.String,
            "staff": pl.Int64,
            "baseline_s": pl.Float64,
            "percentile_method": pl.String,
            "source": pl.String,
            "note": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def staff_of(self, unit_type: str | None) -> int:
        """Staff of one unit type (``[staffing]``; ``default`` for unknown or missing types)."""
        if unit_type is None:
            return self.default_staff
        return self.staffing.get(unit_type.upper(), self.default_staff)


def builtin_standards() -> list[str]:
    """Names of the built-in profiles.

    Returns
    -------
    list of str
        The profile names (TOML files in ``builtin_standards/``), sorted.
    """
    return sorted(p.stem for p in STANDARDS_DIR.glob("*.toml"))


#: alias of :func:`builtin_standards`
list_standards = builtin_standards


def _resolve_path(name_or_path: str | os.PathLike) -> Path:
    s = str(name_or_path)
    p = Path(s).expanduser()
    if p.suffix == ".toml" or os.sep in s or p.exists():
        return p
    builtin = STANDARDS_DIR / f"{s}.toml"
    if builtin.exists():
        return builtin
    raise StandardError(
        f"unknown standards profile {s!r}; built-in profiles: {', '.join(builtin_standards())} "
        "(or give the path of a profile TOML)"
    )


_MODEL = ProfileModel(standard=Standard, target=TargetSpec, zone=DemandZone, metric_def=metric_def)


def load_standard(
    name_or_path: str | os.PathLike | Standard = "nfpa1710",
    overrides_toml: str | os.PathLike | dict | None = None,
) -> Standard:
    """Load a standards profile by built-in name or TOML path, then apply local overrides.

    Parameters
    ----------
    name_or_path : str or path
        ``nfpa1710``, ``nfpa1225``, ``nfpa1720``, ``cfai``, or a profile TOML file.
    overrides_toml : path or dict, optional
        A config TOML (or its parsed dict) with ``[targets.<entry or metric>]``,
        ``[staffing]`` and ``[demand_zones.<class>]`` tables; other tables are ignored.

    Returns
    -------
    Standard
        The profile, with the overrides applied (listed in ``Standard.overrides``).

    Raises
    ------
    StandardError
        Unknown profile, invalid entry or override (the message names the valid choices).
    """
    if isinstance(name_or_path, Standard):
        std = name_or_path
    else:
        std = read_profile(_resolve_path(name_or_path), _MODEL)
    if overrides_toml is not None:
        over, where = read_overrides(overrides_toml)
        std = apply_overrides(std, over, where, _MODEL)
    return std
