"""Named standards profiles (targets, percentiles, call-category rules) and the metric lookups.

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
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
    "metric_names",
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
    """NFPA 1720 demand zone: staff to assemble, time allowed and share of calls that must meet it."""

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

    @property
    def definition(self) -> MetricDef:
        return metric_def(self.metric, self.level)

    def describe(self) -> str:
        flt = []
        if self.call_category:
            flt.append("call_category " + "/".join(self.call_category))
        if self.unit_type:
            flt.append("unit_type " + "/".join(self.unit_type))
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


_ENTRY_KEYS = {
    "metric",
    "level",
    "start",
    "end",
    "target_s",
    "percentile",
    "call_category",
    "unit_type",
    "staff",
    "by_density_class",
    "baseline_s",
    "source",
    "note",
}
_ZONE_KEYS = {"staff", "target_s", "percentile", "description", "target_note", "note"}
_TOP_KEYS = {"profile", "staffing", "targets", "demand_zones"}


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
            "unit_type": pl.String,
            "staff": pl.Int64,
            "baseline_s": pl.Float64,
            "percentile_method": pl.String,
            "source": pl.String,
            "note": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def staff_of(self, unit_type: str | None) -> int:
        if unit_type is None:
            return self.default_staff
        return self.staffing.get(unit_type.upper(), self.default_staff)


def builtin_standards() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(p.stem for p in STANDARDS_DIR.glob("*.toml"))


#: alias of :func:`builtin_standards`
list_standards = builtin_standards


def _read_toml(path: Path, what: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise StandardError(f"{what} {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise StandardError(f"{what} {path} is not valid TOML: {exc}") from exc


def _num(v: Any, where: str, what: str, allow_none: bool = True) -> float | None:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise StandardError(f"{where}: {what} must be a number of seconds, got {v!r}")
    return float(v)


def _pct(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 100:
        raise StandardError(f"{where}: percentile must be a number in (0, 100], got {v!r}")
    return float(v)


def _strs(v: Any, where: str, what: str) -> tuple[str, ...] | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or not v:
        raise StandardError(f"{where}: {what} must be a text or a list of texts, got {v!r}")
    return tuple(v)


def _check_keys(d: dict, valid: set[str], where: str) -> None:
    bad = sorted(set(d) - valid)
    if bad:
        raise StandardError(
            f"{where}: unknown key{'s' if len(bad) > 1 else ''} {', '.join(bad)}; "
            f"valid keys: {', '.join(sorted(valid))}"
        )


def _entry(key: str, d: dict, where: str) -> TargetSpec:
    if not isinstance(d, dict):
        raise StandardError(f"{where}: [targets.{key}] must be a table")
    _check_keys(d, _ENTRY_KEYS, f"{where} [targets.{key}]")
    w = f"{where} [targets.{key}]"
    metric = d.get("metric", key)
    level = d.get("level", "incident")
    try:
        md = metric_def(metric, level)
    except StandardError as exc:
        raise StandardError(f"{w}: {exc}") from None
    for k, expected in (("start", md.start), ("end", md.end)):
        if k in d and d[k] != expected:
            raise StandardError(
                f"{w}: {k} = {d[k]!r} but metric {metric} ({level}) is computed with "
                f"{k} {expected!r} ({md.basis}); remove '{k}' or choose another metric"
            )
    staff = d.get("staff")
    if staff is not None and (isinstance(staff, bool) or not isinstance(staff, int) or staff < 1):
        raise StandardError(f"{w}: staff must be a positive whole number, got {staff!r}")
    if metric.startswith("erf_") and staff is None and not d.get("by_density_class"):
        raise StandardError(
            f"{w}: {metric} needs staff (the effective response force) or by_density_class = true"
        )
    return TargetSpec(
        key=key,
        metric=metric,
        level=level,
        start=md.start,
        end=md.end,
        target_s=_num(d.get("target_s"), w, "target_s"),
        percentile=_pct(d.get("percentile", 90), w),
        call_category=_strs(d.get("call_category"), w, "call_category"),
        unit_type=tuple(u.upper() for u in _strs(d.get("unit_type"), w, "unit_type") or ()) or None,
        staff=staff,
        by_density_class=bool(d.get("by_density_class", False)),
        baseline_s=_num(d.get("baseline_s"), w, "baseline_s"),
        source=str(d.get("source", "")),
        note=str(d.get("note", "")),
    )


def _zone(name: str, d: dict, where: str) -> DemandZone:
    w = f"{where} [demand_zones.{name}]"
    if not isinstance(d, dict):
        raise StandardError(f"{w} must be a table")
    _check_keys(d, _ZONE_KEYS, w)
    staff = d.get("staff")
    if isinstance(staff, bool) or not isinstance(staff, int) or staff < 1:
        raise StandardError(f"{w}: staff must be a positive whole number, got {staff!r}")
    return DemandZone(
        name=name,
        staff=staff,
        target_s=_num(d.get("target_s"), w, "target_s"),
        percentile=_pct(d.get("percentile", 90), w),
        description=str(d.get("description", "")),
        target_note=d.get("target_note"),
        note=str(d.get("note", "")),
    )


def _staffing(d: Any, where: str) -> tuple[dict[str, int], int | None]:
    if not isinstance(d, dict):
        raise StandardError(f"{where} [staffing] must be a table of unit_type = staff")
    out, default = {}, None
    for k, v in d.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise StandardError(f"{where} [staffing]: {k} must be a whole number >= 0, got {v!r}")
        if k == "default":
            default = v
        else:
            out[k.upper()] = v
    return out, default


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


def _apply_overrides(std: Standard, over: dict, where: str) -> Standard:
    # a config file may hold other sections; only these three are read
    targets = {t.key: t for t in std.targets}
    applied: list[str] = []
    tgt = over.get("targets", {})
    if not isinstance(tgt, dict):
        raise StandardError(f"{where}: [targets] must hold tables like [targets.turnout]")
    for key, d in tgt.items():
        if not isinstance(d, dict):
            raise StandardError(f"{where}: [targets.{key}] must be a table")
        _check_keys(d, _ENTRY_KEYS, f"{where} [targets.{key}]")
        if key in targets:
            hits = [key]
        else:
            hits = [k for k, t in targets.items() if t.metric == key]
        if hits:
            for k in hits:
                old = targets[k]
                merged = {
                    "metric": old.metric,
                    "level": old.level,
                    "target_s": old.target_s,
                    "percentile": old.percentile,
                    "call_category": list(old.call_category) if old.call_category else None,
                    "unit_type": list(old.unit_type) if old.unit_type else None,
                    "staff": old.staff,
                    "by_density_class": old.by_density_class,
                    "baseline_s": old.baseline_s,
                    "source": old.source,
                    "note": old.note,
                }
                merged.update(d)
                merged = {k2: v for k2, v in merged.items() if v is not None}
                targets[k] = _entry(k, merged, where)
                applied.append(f"targets.{k}: " + ", ".join(f"{a} = {b!r}" for a, b in d.items()))
        else:
            targets[key] = _entry(key, d, where)
            applied.append(f"targets.{key}: new entry")
    staffing, default_staff = dict(std.staffing), std.default_staff
    if "staffing" in over:
        s, dflt = _staffing(over["staffing"], where)
        staffing.update(s)
        if dflt is not None:
            default_staff = dflt
        applied.append("staffing: " + ", ".join(f"{k} = {v}" for k, v in over["staffing"].items()))
    zones = dict(std.demand_zones)
    for name, d in over.get("demand_zones", {}).items():
        if not isinstance(d, dict):
            raise StandardError(f"{where}: [demand_zones.{name}] must be a table")
        base = {}
        if name in zones:
            z = zones[name]
            base = {
                "staff": z.staff,
                "target_s": z.target_s,
                "percentile": z.percentile,
                "description": z.description,
                "target_note": z.target_note,
                "note": z.note,
            }
            if "target_s" in d:
                base["target_note"] = None  # a local target replaces "distance-dependent"
        base.update(d)
        zones[name] = _zone(name, {k: v for k, v in base.items() if v is not None}, where)
        applied.append(f"demand_zones.{name}: " + ", ".join(f"{a} = {b!r}" for a, b in d.items()))
    return replace(
        std,
        targets=tuple(targets.values()),
        staffing=staffing,
        default_staff=default_staff,
        demand_zones=zones,
        overrides=std.overrides + applied,
    )


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

    Raises
    ------
    StandardError
        Unknown profile, invalid entry or override (the message names the valid choices).
    """
    if isinstance(name_or_path, Standard):
        std = name_or_path
    else:
        path = _resolve_path(name_or_path)
        raw = _read_toml(path, "standards profile")
        where = str(path)
        _check_keys(raw, _TOP_KEYS, where)
        prof = raw.get("profile", {})
        if not isinstance(prof, dict):
            raise StandardError(f"{where}: [profile] must be a table")
        _check_keys(prof, {"name", "title", "description", "defaults"}, f"{where} [profile]")
        targets_raw = raw.get("targets", {})
        if not isinstance(targets_raw, dict):
            raise StandardError(f"{where}: [targets] must hold tables like [targets.turnout]")
        targets = tuple(_entry(k, d, where) for k, d in targets_raw.items())
        staffing, default_staff = _staffing(raw.get("staffing", {}), where)
        zones = {k: _zone(k, d, where) for k, d in raw.get("demand_zones", {}).items()}
        for t in targets:
            if t.by_density_class and not zones:
                raise StandardError(
                    f"{where} [targets.{t.key}]: by_density_class = true needs "
                    "[demand_zones.<class>] tables"
                )
        std = Standard(
            name=str(prof.get("name", path.stem)),
            title=str(prof.get("title", path.stem)),
            description=str(prof.get("description", "")),
            path=path,
            targets=targets,
            staffing=staffing,
            default_staff=default_staff if default_staff is not None else 0,
            demand_zones=zones,
            defaults=bool(prof.get("defaults", False)),
        )
    if overrides_toml is not None:
        if isinstance(overrides_toml, dict):
            over, where = overrides_toml, "overrides"
        else:
            where = str(overrides_toml)
            over = _read_toml(Path(overrides_toml).expanduser(), "overrides file")
        std = _apply_overrides(std, over, where)
    return std
