"""Global filters: kept in the URL query string so a view can be bookmarked and shared."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import parse_qs, urlencode

__all__ = [
    "Filters",
    "ProfileDefaults",
    "agency_switched",
    "parse_search",
    "profile_of",
    "to_search",
    "where_sql",
]


class ProfileDefaults(str):
    """The dashboard's standards profile (the text itself: the global ``profile``) and each
    agency's own (``[agencies."NAME"] standards``): ``of(agency)``. A ``str`` so that every
    place that took the global profile keeps working."""

    agencies: dict[str, str]

    def __new__(cls, default: str, agencies: dict[str, str] | None = None):
        obj = super().__new__(cls, default)
        obj.agencies = dict(agencies or {})
        return obj

    def of(self, agency: str | None) -> str:
        """The profile of ``agency`` (the global one for an agency not configured)."""
        return self.agencies.get(agency, str(self)) if agency else str(self)


def profile_of(defaults: str, agency: str | None) -> str:
    """The agency's profile from ``defaults`` (a :class:`ProfileDefaults` or a plain name)."""
    return defaults.of(agency) if isinstance(defaults, ProfileDefaults) else str(defaults)


@dataclass(frozen=True)
class Filters:
    """The dashboard's global filters (``agency``: the one agency every figure shows)."""

    agency: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    categories: tuple[str, ...] = ()
    call_types: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    layer: str | None = None
    profile: str = "nfpa1710"
    extra: dict = field(default_factory=dict, compare=False)
    #: the user chose ``profile`` (the URL names it); otherwise it follows the agency's
    profile_chosen: bool = field(default=False, compare=False)
    #: the global and per-agency profiles (None: the profile never follows the agency)
    defaults: ProfileDefaults | None = field(default=None, compare=False, repr=False)

    def with_(self, **kw) -> Filters:
        """A copy with ``kw`` changed. A new ``agency`` brings its own profile unless the
        user chose one; a ``profile`` given here counts as chosen when it is not the agency's
        own."""
        f = replace(self, **kw)
        if f.defaults is None:
            return f
        own = f.defaults.of(f.agency)
        if "profile" in kw and "profile_chosen" not in kw:
            return replace(f, profile_chosen=f.profile != own)
        if "agency" in kw and not f.profile_chosen:
            return replace(f, profile=own)
        return f

    @property
    def profile_source(self) -> str:
        """Why this profile applies: ``"chosen"`` (the URL names it), ``"agency"`` (the
        agency's configured one) or ``"default"`` (the dashboard's global profile)."""
        if self.profile_chosen:
            return "chosen"
        if self.defaults is not None and self.agency in self.defaults.agencies:
            return "agency"
        return "default"


def _date(v: str | None) -> date | None:
    try:
        return date.fromisoformat(v) if v else None
    except ValueError:
        return None


def _list(v: str | None) -> tuple[str, ...]:
    return tuple(x for x in (v or "").split(",") if x)


def parse_search(search: str | None, default_profile: str = "nfpa1710") -> Filters:
    """Filters from a URL query string such as ``?agency=SFFD&from=2024-01-01&cat=ems&layer=x``.

    Unknown keys are ignored and malformed dates dropped, so any bookmark opens. Without
    ``profile`` in the URL the profile is the agency's (``default_profile`` a
    :class:`ProfileDefaults`), and follows the agency when it changes.
    """
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    agency = q.get("agency") or None
    defaults = default_profile if isinstance(default_profile, ProfileDefaults) else None
    return Filters(
        agency=agency,
        date_from=_date(q.get("from")),
        date_to=_date(q.get("to")),
        categories=_list(q.get("cat")),
        call_types=_list(q.get("type")),
        priorities=_list(q.get("pri")),
        layer=q.get("layer") or None,
        profile=q.get("profile") or profile_of(default_profile, agency),
        profile_chosen=bool(q.get("profile")),
        defaults=defaults,
    )


def to_search(f: Filters) -> str:
    """The URL query string of filters (empty parts left out), with the leading ``?``."""
    q = {}
    if f.agency:
        q["agency"] = f.agency
    if f.date_from:
        q["from"] = f.date_from.isoformat()
    if f.date_to:
        q["to"] = f.date_to.isoformat()
    if f.categories:
        q["cat"] = ",".join(f.categories)
    if f.call_types:
        q["type"] = ",".join(f.call_types)
    if f.priorities:
        q["pri"] = ",".join(f.priorities)
    if f.layer:
        q["layer"] = f.layer
    if f.profile and (
        f.defaults is None or f.profile_chosen or f.profile != f.defaults.of(f.agency)
    ):  # the agency's own profile is implied: the URL names a profile the user chose
        q["profile"] = f.profile
    return "?" + urlencode(q, safe=",") if q else ""


def agency_switched(f: Filters, search: str | None, default_profile: str) -> Filters:
    """The filters after the agency selector switched to ``f.agency``: its other filters
    reset, and the profile the user chose kept (the previous URL ``search`` names it), else
    the new agency's own."""
    prev = parse_search(search, default_profile)
    if prev.profile_chosen:
        return Filters(
            agency=f.agency, profile=prev.profile, profile_chosen=True, defaults=prev.defaults
        )
    return Filters(
        agency=f.agency, profile=profile_of(default_profile, f.agency), defaults=prev.defaults
    )


def where_sql(f: Filters, table_alias: str = "") -> tuple[str, dict]:
    """A SQL ``where`` clause (``'true'`` when empty) and its named parameters."""
    a = f"{table_alias}." if table_alias else ""
    parts, params = [], {}
    if f.agency:
        parts.append(f"{a}agency = $agency")
        params["agency"] = f.agency
    if f.date_from:
        parts.append(f"{a}local_date >= $date_from")
        params["date_from"] = f.date_from
    if f.date_to:
        parts.append(f"{a}local_date <= $date_to")
        params["date_to"] = f.date_to
    for name, col, values in (
        ("cats", "call_category", f.categories),
        ("types", "call_type", f.call_types),
        ("pris", "priority", f.priorities),
    ):
        if values:
            parts.append(f"{a}{col} in (select unnest($" + name + "))")
            params[name] = list(values)
    return (" and ".join(parts) or "true"), params
