"""Global filters: kept in the URL query string so a view can be bookmarked and shared."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import parse_qs, urlencode

__all__ = ["Filters", "parse_search", "to_search", "where_sql"]


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

    def with_(self, **kw) -> Filters:
        return replace(self, **kw)


def _date(v: str | None) -> date | None:
    try:
        return date.fromisoformat(v) if v else None
    except ValueError:
        return None


def _list(v: str | None) -> tuple[str, ...]:
    return tuple(x for x in (v or "").split(",") if x)


def parse_search(search: str | None, default_profile: str = "nfpa1710") -> Filters:
    """Filters from a URL query string such as ``?agency=SFFD&from=2024-01-01&cat=ems&layer=x``.

    Unknown keys are ignored and malformed dates dropped, so any bookmark opens.
    """
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    return Filters(
        agency=q.get("agency") or None,
        date_from=_date(q.get("from")),
        date_to=_date(q.get("to")),
        categories=_list(q.get("cat")),
        call_types=_list(q.get("type")),
        priorities=_list(q.get("pri")),
        layer=q.get("layer") or None,
        profile=q.get("profile") or default_profile,
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
    if f.profile:
        q["profile"] = f.profile
    return "?" + urlencode(q, safe=",") if q else ""


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
