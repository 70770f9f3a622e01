"""Reading and validating a standards-profile TOML and a config's local overrides.

:func:`read_profile` turns a profile TOML into a ``Standard``; :func:`read_overrides` and
:func:`apply_overrides` apply a config's ``[targets.*]``, ``[staffing]`` and
``[demand_zones.*]`` tables to it. Every error is a :class:`StandardError` naming the file, the
table and the valid choices.

The profile classes (``Standard``, ``TargetSpec``, ``DemandZone``) and the metric registry live
in :mod:`.standards`, whose ``load_standard`` calls this module. Importing them here would be an
import cycle, so ``standards`` hands them in as a :class:`ProfileModel`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import StandardError

__all__ = ["ProfileModel", "read_profile", "read_overrides", "apply_overrides"]

_ENTRY_KEYS = {
    "metric",
    "level",
    "start",
    "end",
    "target_s",
    "percentile",
    "call_category",
    "call_types",
    "unit_type",
    "staff",
    "label",
    "by_density_class",
    "baseline_s",
    "source",
    "note",
}
_ZONE_KEYS = {"staff", "target_s", "percentile", "description", "target_note", "note"}
_TOP_KEYS = {"profile", "staffing", "targets", "demand_zones", "scope"}
_SCOPE_KEYS = {"exclude_call_categories"}
_PROFILE_KEYS = {"name", "title", "description", "defaults"}


class ProfileModel(NamedTuple):
    """What a profile is built of: the classes of :mod:`.standards` and its metric registry."""

    standard: type
    target: type
    zone: type
    metric_def: Callable[[str, str], Any]


# ----------------------------------------------------------------------------- TOML values
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


#: the key of ``call_types`` naming the call types of agencies the rule does not name
DEFAULT_AGENCY = "default"


def _call_types(v: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """``call_types``: a list (every agency) or a table ``{agency = [types], default = [...]}``
    as ``((agency, types), ...)`` (``default`` for the agencies not named)."""
    if v is None:
        return None
    if isinstance(v, str | list):
        types = _strs(v, where, "call_types")
        return ((DEFAULT_AGENCY, types),) if types else None
    if not isinstance(v, dict) or not v:
        raise StandardError(
            f"{where}: call_types must be a list of call types, or a table of agency = [call "
            f'types] (e.g. call_types = {{ SFFD = ["Structure Fire"], default = '
            f'["Structure Fire"] }}), got {v!r}'
        )
    out = []
    for agency, types in v.items():
        t = _strs(types, where, f"call_types.{agency}")
        out.append((str(agency), t or ()))
    return tuple(out)


def _check_keys(d: dict, valid: set[str], where: str) -> None:
    bad = sorted(set(d) - valid)
    if bad:
        raise StandardError(
            f"{where}: unknown key{'s' if len(bad) > 1 else ''} {', '.join(bad)}; "
            f"valid keys: {', '.join(sorted(valid))}"
        )


def _entry_table(key: str, d: Any, where: str) -> None:
    """``[targets.<key>]`` must be a table of known keys."""
    if not isinstance(d, dict):
        raise StandardError(f"{where}: [targets.{key}] must be a table")
    _check_keys(d, _ENTRY_KEYS, f"{where} [targets.{key}]")


# ------------------------------------------------------------------ entries, zones, staffing
def _entry_metric(d: dict, key: str, w: str, model: ProfileModel) -> Any:
    """The metric definition an entry names; its start / end, if given, must be the metric's."""
    metric = d.get("metric", key)
    level = d.get("level", "incident")
    try:
        md = model.metric_def(metric, level)
    except StandardError as exc:
        raise StandardError(f"{w}: {exc}") from None
    for k, expected in (("start", md.start), ("end", md.end)):
        if k in d and d[k] != expected:
            raise StandardError(
                f"{w}: {k} = {d[k]!r} but metric {metric} ({level}) is computed with "
                f"{k} {expected!r} ({md.basis}); remove '{k}' or choose another metric"
            )
    return md


def _entry_staff(d: dict, metric: str, w: str) -> int | None:
    staff = d.get("staff")
    if staff is not None and (isinstance(staff, bool) or not isinstance(staff, int) or staff < 1):
        raise StandardError(f"{w}: staff must be a positive whole number, got {staff!r}")
    if metric.startswith("erf_") and staff is None and not d.get("by_density_class"):
        raise StandardError(
            f"{w}: {metric} needs staff (the effective response force) or by_density_class = true"
        )
    return staff


def _entry(key: str, d: dict, where: str, model: ProfileModel) -> Any:
    _entry_table(key, d, where)
    w = f"{where} [targets.{key}]"
    md = _entry_metric(d, key, w, model)
    metric = d.get("metric", key)
    staff = _entry_staff(d, metric, w)
    return model.target(
        key=key,
        metric=metric,
        level=d.get("level", "incident"),
        start=md.start,
        end=md.end,
        target_s=_num(d.get("target_s"), w, "target_s"),
        percentile=_pct(d.get("percentile", 90), w),
        call_category=_strs(d.get("call_category"), w, "call_category"),
        call_types=_call_types(d.get("call_types"), w),
        unit_type=tuple(u.upper() for u in _strs(d.get("unit_type"), w, "unit_type") or ()) or None,
        staff=staff,
        by_density_class=bool(d.get("by_density_class", False)),
        baseline_s=_num(d.get("baseline_s"), w, "baseline_s"),
        source=str(d.get("source", "")),
        note=str(d.get("note", "")),
        label=str(d.get("label", "")),
    )


def _zone(name: str, d: dict, where: str, model: ProfileModel) -> Any:
    w = f"{where} [demand_zones.{name}]"
    if not isinstance(d, dict):
        raise StandardError(f"{w} must be a table")
    _check_keys(d, _ZONE_KEYS, w)
    staff = d.get("staff")
    if isinstance(staff, bool) or not isinstance(staff, int) or staff < 1:
        raise StandardError(f"{w}: staff must be a positive whole number, got {staff!r}")
    return model.zone(
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


def _scope(d: Any, where: str) -> tuple[str, ...] | None:
    """``[scope] exclude_call_categories = ["police"]``: the call categories no objective of the
    profile judges (lower-case; ``[]`` judges every call). None when the table does not say."""
    if not isinstance(d, dict):
        raise StandardError(
            f'{where}: [scope] must be a table, e.g. [scope] exclude_call_categories = ["police"]'
        )
    _check_keys(d, _SCOPE_KEYS, f"{where} [scope]")
    if "exclude_call_categories" not in d:
        return None
    v = d["exclude_call_categories"]
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise StandardError(
            f"{where} [scope]: exclude_call_categories must be a list of call categories, "
            f'e.g. ["police"] (or [] to judge every call), got {v!r}'
        )
    return tuple(dict.fromkeys(x.strip().lower() for x in v))


# ---------------------------------------------------------------------------- the profile
def _profile_table(raw: dict, where: str) -> dict:
    """The ``[profile]`` table (name, title, description, defaults)."""
    prof = raw.get("profile", {})
    if not isinstance(prof, dict):
        raise StandardError(f"{where}: [profile] must be a table")
    _check_keys(prof, _PROFILE_KEYS, f"{where} [profile]")
    return prof


def _profile_targets(raw: dict, where: str, model: ProfileModel) -> tuple:
    targets_raw = raw.get("targets", {})
    if not isinstance(targets_raw, dict):
        raise StandardError(f"{where}: [targets] must hold tables like [targets.turnout]")
    return tuple(_entry(k, d, where, model) for k, d in targets_raw.items())


def _check_density_entries(targets: tuple, zones: dict, where: str) -> None:
    """An entry ``by_density_class`` needs the profile's demand zones."""
    for t in targets:
        if t.by_density_class and not zones:
            raise StandardError(
                f"{where} [targets.{t.key}]: by_density_class = true needs "
                "[demand_zones.<class>] tables"
            )


def read_profile(path: Path, model: ProfileModel) -> Any:
    """Read and validate one standards-profile TOML.

    Parameters
    ----------
    path : Path
        The profile TOML (``[profile]``, ``[targets.*]``, ``[staffing]``,
        ``[demand_zones.*]``).
    model : ProfileModel
        The classes to build and the metric registry (from :mod:`.standards`).

    Returns
    -------
    Standard
        The profile, without overrides.

    Raises
    ------
    StandardError
        A missing or invalid file, an unknown key, metric or level, or an invalid value.
    """
    raw = _read_toml(path, "standards profile")
    where = str(path)
    _check_keys(raw, _TOP_KEYS, where)
    prof = _profile_table(raw, where)
    targets = _profile_targets(raw, where, model)
    staffing, default_staff = _staffing(raw.get("staffing", {}), where)
    zones = {k: _zone(k, d, where, model) for k, d in raw.get("demand_zones", {}).items()}
    _check_density_entries(targets, zones, where)
    excluded = _scope(raw.get("scope", {}), where)
    return model.standard(
        name=str(prof.get("name", path.stem)),
        title=str(prof.get("title", path.stem)),
        description=str(prof.get("description", "")),
        path=path,
        targets=targets,
        staffing=staffing,
        default_staff=default_staff if default_staff is not None else 0,
        demand_zones=zones,
        defaults=bool(prof.get("defaults", False)),
        exclude_call_categories=excluded or (),
    )


# ------------------------------------------------------------------------------ overrides
def read_overrides(overrides_toml: str | os.PathLike | dict) -> tuple[dict, str]:
    """The overrides as a dict, and how error messages name their source.

    Parameters
    ----------
    overrides_toml : path or dict
        A config TOML, or its parsed dict.

    Returns
    -------
    tuple of (dict, str)
        The parsed tables and ``"overrides"`` (a dict) or the file's path.

    Raises
    ------
    StandardError
        The file is missing or not valid TOML.
    """
    if isinstance(overrides_toml, dict):
        return overrides_toml, "overrides"
    where = str(overrides_toml)
    return _read_toml(Path(overrides_toml).expanduser(), "overrides file"), where


def _entry_values(t: Any) -> dict[str, Any]:
    """An entry's settings as a ``[targets.*]`` table (what an override is merged into)."""
    return {
        "metric": t.metric,
        "level": t.level,
        "target_s": t.target_s,
        "percentile": t.percentile,
        "call_category": list(t.call_category) if t.call_category else None,
        "call_types": {a: list(ts) for a, ts in t.call_types} if t.call_types else None,
        "label": t.label or None,
        "unit_type": list(t.unit_type) if t.unit_type else None,
        "staff": t.staff,
        "by_density_class": t.by_density_class,
        "baseline_s": t.baseline_s,
        "source": t.source,
        "note": t.note,
    }


def _zone_values(z: Any) -> dict[str, Any]:
    """A demand zone's settings as a ``[demand_zones.*]`` table."""
    return {
        "staff": z.staff,
        "target_s": z.target_s,
        "percentile": z.percentile,
        "description": z.description,
        "target_note": z.target_note,
        "note": z.note,
    }


def _set_text(d: dict) -> str:
    return ", ".join(f"{a} = {b!r}" for a, b in d.items())


def _override_targets(
    std: Any, over: dict, where: str, model: ProfileModel
) -> tuple[tuple, list[str]]:
    """``[targets.<entry or metric>]``: change the entry (every entry of the metric) or add one."""
    targets = {t.key: t for t in std.targets}
    applied: list[str] = []
    tgt = over.get("targets", {})
    if not isinstance(tgt, dict):
        raise StandardError(f"{where}: [targets] must hold tables like [targets.turnout]")
    for key, d in tgt.items():
        _entry_table(key, d, where)
        hits = [key] if key in targets else [k for k, t in targets.items() if t.metric == key]
        if not hits:
            targets[key] = _entry(key, d, where, model)
            applied.append(f"targets.{key}: new entry")
        for k in hits:
            merged = {**_entry_values(targets[k]), **d}
            merged = {k2: v for k2, v in merged.items() if v is not None}
            targets[k] = _entry(k, merged, where, model)
            applied.append(f"targets.{k}: " + _set_text(d))
    return tuple(targets.values()), applied


def _override_staffing(std: Any, over: dict, where: str) -> tuple[dict[str, int], int, list[str]]:
    """``[staffing]``: staff per unit_type (and ``default``) replaced or added."""
    staffing, default_staff = dict(std.staffing), std.default_staff
    if "staffing" not in over:
        return staffing, default_staff, []
    s, dflt = _staffing(over["staffing"], where)
    staffing.update(s)
    if dflt is not None:
        default_staff = dflt
    applied = ["staffing: " + ", ".join(f"{k} = {v}" for k, v in over["staffing"].items())]
    return staffing, default_staff, applied


def _override_zones(
    std: Any, over: dict, where: str, model: ProfileModel
) -> tuple[dict[str, Any], list[str]]:
    """``[demand_zones.<class>]``: change a demand zone or add one."""
    zones = dict(std.demand_zones)
    applied: list[str] = []
    for name, d in over.get("demand_zones", {}).items():
        if not isinstance(d, dict):
            raise StandardError(f"{where}: [demand_zones.{name}] must be a table")
        base = {}
        if name in zones:
            base = _zone_values(zones[name])
            if "target_s" in d:
                base["target_note"] = None  # a local target replaces "distance-dependent"
        base.update(d)
        zones[name] = _zone(name, {k: v for k, v in base.items() if v is not None}, where, model)
        applied.append(f"demand_zones.{name}: " + _set_text(d))
    return zones, applied


def apply_overrides(std: Any, over: dict, where: str, model: ProfileModel) -> Any:
    """A copy of a profile with a config's local overrides applied.

    Parameters
    ----------
    std : Standard
        The profile.
    over : dict
        The config's tables; only ``targets``, ``staffing``, ``demand_zones`` and ``scope`` are
        read (a
        config file may hold other sections).
    where : str
        How error messages name the overrides' source.
    model : ProfileModel
        The classes to build and the metric registry (from :mod:`.standards`).

    Returns
    -------
    Standard
        The profile with the overrides, each listed in ``overrides``.

    Raises
    ------
    StandardError
        An invalid table, key or value (the message names the valid choices).
    """
    targets, applied = _override_targets(std, over, where, model)
    staffing, default_staff, staff_applied = _override_staffing(std, over, where)
    zones, zone_applied = _override_zones(std, over, where, model)
    excluded = std.exclude_call_categories
    if "scope" in over:
        new = _scope(over["scope"], where)
        if new is not None:
            excluded = new
            zone_applied.append(
                "scope: exclude_call_categories = [" + ", ".join(repr(c) for c in new) + "]"
            )
    return replace(
        std,
        targets=targets,
        staffing=staffing,
        default_staff=default_staff,
        demand_zones=zones,
        exclude_call_categories=excluded,
        overrides=std.overrides + applied + staff_applied + zone_applied,
    )
