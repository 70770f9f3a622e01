"""What a fractile request compares with: the metric (or a profile entry), its targets, the
NFPA 1720 demand zones and the effective response force's staffing, each with the notes an
output must state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import MetricError
from ..schema.intervals import Interval
from .standards import METRICS, Standard, StandardError, TargetSpec, metric_def

__all__ = ["Entry", "resolve_metric", "target_entries", "density_notes", "erf_staffing"]


@dataclass
class Entry:
    """One row group of targets: a profile entry (or an explicit target), one demand zone."""

    standard: str | None
    target_s: float | None
    pct: float
    call_category: tuple[str, ...] | None = None
    unit_type: tuple[str, ...] | None = None
    staff: int | None = None
    density_class: str | None = None
    target_note: str | None = None
    baseline_s: float | None = None
    call_types: tuple[tuple[str, tuple[str, ...]], ...] | None = None


def _layers_text(layers: list[str]) -> str:
    return ", ".join(layers) or "(none loaded)"


def resolve_metric(
    std: Standard | None, metric: str, level: str, entry: str | None
) -> tuple[Interval, list[TargetSpec] | None]:
    """The interval measured and, when ``metric`` / ``entry`` names a profile entry, that
    entry alone. :class:`MetricError` names the valid metrics and entries."""
    entry_specs: list[TargetSpec] | None = None
    if entry is not None:
        if std is None:
            raise MetricError(f"entry={entry!r} needs a profile")
        if not std.has_entry(entry):
            raise MetricError(
                f"profile {std.name} has no entry {entry!r}; entries: {', '.join(std.keys)}"
            )
        metric = entry
    if (
        (entry is not None or (metric, level) not in METRICS)
        and std is not None
        and std.has_entry(metric)
    ):
        spec = std.entry(metric)
        entry_specs = [spec]
        metric, level = spec.metric, spec.level
    try:
        return metric_def(metric, level), entry_specs
    except StandardError as exc:
        extra = f"; profile {std.name} entries: {', '.join(std.keys)}" if std else ""
        raise MetricError(f"{exc}{extra}") from None


def _spec_entries(std: Standard | None, s: TargetSpec, percentile, staff) -> list[Entry]:
    if not s.by_density_class:
        return [
            Entry(
                s.key,
                s.target_s,
                percentile or s.percentile,
                s.call_category,
                s.unit_type,
                staff or s.staff,
                baseline_s=s.baseline_s,
                call_types=s.call_types,
            )
        ]
    assert std is not None
    return [
        Entry(
            s.key,
            z.target_s,
            percentile or z.percentile,
            s.call_category,
            s.unit_type,
            staff or z.staff,
            z.name,
            z.target_note,
            s.baseline_s,
            s.call_types,
        )
        for z in std.demand_zones.values()
    ]


def _spec_note(std: Standard | None, s: TargetSpec) -> str:
    flt = []
    if s.call_category:
        flt.append("call_category in (" + ", ".join(s.call_category) + ")")
    if s.unit_type:
        flt.append("unit_type in (" + ", ".join(s.unit_type) + ")")
    if s.call_types:
        flt.append("call types " + s.calls_text())
    if s.by_density_class:
        tgt = "target by demand zone"
    elif s.target_s is not None:
        tgt = f"target {s.target_s:g} s"
    else:
        tgt = "no target"
    only = f", only {' and '.join(flt)}" if flt else ""
    return f"profile {std.name if std else ''} entry {s.key}: {tgt}{only}"


def target_entries(
    std: Standard | None,
    entry_specs: list[TargetSpec],
    target_s: float | None,
    percentile: float | None,
    staff: int | None,
) -> tuple[list[Entry], list[TargetSpec], list[str]]:
    """The row groups (entries), the profile entries applied and their notes. An explicit
    ``target_s`` replaces the profile's targets and their filters."""
    if target_s is not None:
        if isinstance(target_s, bool) or not isinstance(target_s, int | float):
            raise MetricError(f"target_s must be a number of seconds, got {target_s!r}")
        e_staff = (
            staff if staff is not None else next((s.staff for s in entry_specs if s.staff), None)
        )
        return [Entry(None, float(target_s), percentile or 90.0, staff=e_staff)], [], []
    if not entry_specs:
        return [Entry(None, None, percentile or 90.0, staff=staff)], [], []
    entries = [e for s in entry_specs for e in _spec_entries(std, s, percentile, staff)]
    return entries, entry_specs, [_spec_note(std, s) for s in entry_specs]


def density_notes(
    entries: list[Entry],
    std: Standard | None,
    metric: str,
    density_layer: str | None,
    layers: list[str],
) -> list[str]:
    """Checks ``density_layer`` when an entry sets targets by demand zone; its note."""
    if not any(e.density_class for e in entries):
        return []
    if density_layer is None:
        dens = ", ".join(std.demand_zones) if std else ""
        raise MetricError(
            f"profile {std.name if std else ''} sets {metric} targets by "
            f"demand zone ({dens}); pass density_layer=<zone layer with "
            f"zones.density_class>; valid layers: {_layers_text(layers)}"
        )
    if density_layer not in layers:
        raise MetricError(
            f"unknown density_layer {density_layer!r}; valid layers: {_layers_text(layers)}"
        )
    return [
        f"demand zone = zones.density_class of the incident's zone in layer "
        f"{density_layer}; incidents without one are not counted"
    ]


def erf_staffing(
    std: Standard | None,
    staffing: dict[str, Any] | None,
    entries: list[Entry],
    metric: str,
) -> tuple[dict[str, Any], int, list[str]]:
    """The staffing table, the staff of other unit types and the note of an ERF metric;
    :class:`MetricError` when the staffing or the force to assemble is missing."""
    if staffing is None:
        staffing = dict(std.staffing) if std is not None and std.staffing else None
    if not staffing:
        raise MetricError(
            f"metric {metric} needs a staffing config: staffing="
            "{unit_type: staff} (or a profile with [staffing])"
        )
    if any(e.staff is None for e in entries):
        raise MetricError(
            f"metric {metric} needs the effective response force: staff=N "
            "(or a profile entry with staff / demand zones)"
        )
    note = (
        "effective response force: units on scene in arrival order, cumulative "
        "staff from staffing "
        + ", ".join(f"{k}={v}" for k, v in sorted(staffing.items()))
        + "; incidents where units arrived but the staff never reached the "
        "force count as not meeting the target (value +inf, column n_unmet); "
        "incidents with no unit on scene are not counted"
    )
    default_staff = std.default_staff if std is not None else 0
    if "default" in staffing:
        default_staff = int(staffing["default"])
    return staffing, default_staff, [note]
