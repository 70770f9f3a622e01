"""Targets of the standards profiles, as the dashboard needs them: metric -> (target_s, pct)."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["available_profiles", "profile_targets"]


def available_profiles() -> list[str]:
    """Names of the standards profiles (nfpa1710, nfpa1225, nfpa1720, cfai, ...)."""
    from dispatch_analytics.metrics.standards import list_standards

    return list(list_standards())


@lru_cache(maxsize=32)
def profile_targets(name: str) -> dict[str, tuple[tuple | None, float]]:
    """The incident-level target of each dashboard interval in a profile.

    A target is a tuple of ``(call_category or None, seconds)`` pairs: several when the
    profile sets one per category (NFPA 1710 turnout: 60 s EMS, 80 s fire and other), one
    pair ``(None, s)`` when it applies to every call. Only incident-level entries without a
    unit-type or density-class condition are used (ALS travel, ERF and NFPA 1720 demand zones
    are in `dispatch report`).
    """
    from dispatch_analytics.metrics.standards import load_standard

    std = load_standard(name)
    pairs: dict[str, list[tuple[str | None, float]]] = {}
    pct: dict[str, float] = {}
    for t in std.targets:
        if getattr(t, "level", "incident") != "incident" or getattr(t, "unit_type", None):
            continue
        if t.target_s is None or getattr(t, "by_density_class", None):
            continue
        cats = t.call_category or (None,)
        lst = pairs.setdefault(t.metric, [])
        if any(c in [x for x, _ in lst] for c in cats):
            continue  # the first entry for a category wins
        lst.extend((c, float(t.target_s)) for c in cats)
        pct.setdefault(t.metric, float(t.percentile))
    return {m: (tuple(v), pct[m]) for m, v in pairs.items()}
