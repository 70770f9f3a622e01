"""Targets of the standards profiles, as the dashboard needs them: metric -> (target_s, pct)."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["available_profiles", "profile_targets"]


def available_profiles() -> list[str]:
    """Names of the standards profiles (nfpa1710, nfpa1225, nfpa1720, cfai, ...)."""
    from dispatch_analytics.standards import list_standards

    return list(list_standards())


@lru_cache(maxsize=32)
def profile_targets(name: str) -> dict[str, tuple[float | None, float]]:
    """The overall target of each incident interval in a profile.

    Where a profile has several targets for one interval (e.g. turnout 60 s for EMS and 80 s
    for fire), the first listed without a call-category filter is used, else the first.
    """
    from dispatch_analytics.standards import load_standard

    std = load_standard(name)
    out: dict[str, tuple[float | None, float]] = {}
    for t in std.targets:
        if t.metric in out and getattr(t, "call_category", None):
            continue
        if t.metric not in out or not getattr(t, "call_category", None):
            out[t.metric] = (t.target_s, float(t.percentile))
    return out
