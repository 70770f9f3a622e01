"""The validators of the tables of a source profile that stand alone: timestamp formats,
``[categories]`` globs and ``[validation]``; :func:`.profiles.parse_profile` calls them, each
appending every problem it finds to ``problems``."""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime

from ..schema.fields import CATEGORIES, TIME_FIELDS

__all__ = ["EXCEL_SERIAL", "format_problem"]

#: the timestamp format of Excel serial day numbers (days since 1899-12-30, fraction = time)
EXCEL_SERIAL = "excel"
_KNOWN_VALIDATION = {
    "max_interval_s",
    "max_span_s",
    "require_coordinates",
    "bbox",
    "stage_order",
    "on_stage_error",
}


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _unknown(where: str, key: str, known) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown key `{key}` in {where}{hint}"


def format_problem(fmt: object) -> str | None:
    """Why ``fmt`` is not a usable timestamp format (None when it is).

    A probe time is formatted with it and parsed back through Polars (chrono): an unknown
    directive such as ``%Q`` fails the formatting, a format that cannot read back what it
    writes fails the parse. ``"excel"`` (Excel serial day numbers) is accepted as is.
    """
    if fmt == EXCEL_SERIAL:
        return None
    if not isinstance(fmt, str) or "%" not in fmt:
        return "is not a strftime format like '%m/%d/%Y %H:%M:%S'"
    import polars as pl

    probe = pl.Series([datetime(2021, 11, 7, 13, 4, 5, 123456, tzinfo=UTC)])
    try:
        # %#z (any offset form) is for parsing only: write the probe with %:z
        text = probe.dt.strftime(fmt.replace("%#z", "%:z"))
        back = text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
    except pl.exceptions.PolarsError:
        bad = [
            d
            for d in re.findall(r"%[-_0#^]?[.:]*[0-9]*[A-Za-z%+]", fmt)
            if d[-1] not in _DIRECTIVES
        ]
        which = f" (unknown directive {', '.join(bad)})" if bad else ""
        return (
            f"is not a valid strftime format{which}; see the chrono directives: %Y %m %d "
            "%H %M %S %I %p %.f %z ..."
        )
    if back.null_count():
        return (
            f"cannot read back what it writes ({text[0]!r}); use a format with a full date "
            "and time, e.g. '%m/%d/%Y %H:%M:%S'"
        )
    return None


#: chrono's strftime conversion letters
_DIRECTIVES = set("YCyqmbBhdeaAwuUWGgVjDxFvHkIlPpMSfTXrRtnzZcs%+")


def _formats_tables(src: dict, fmts: dict, problems: list[str]) -> dict:
    """``[source] timestamp_format`` and the per-field ``[formats]``: every format is checked
    by :func:`format_problem`."""
    formats = _as_list(src.get("timestamp_format", "%Y-%m-%d %H:%M:%S"))
    for f in formats:
        why = format_problem(f)
        if why:
            problems.append(f"`timestamp_format` {f!r} {why}")
    field_formats: dict[str, tuple[str, ...]] = {}
    for fld, f in fmts.items():
        if fld not in TIME_FIELDS:
            problems.append(_unknown("[formats]", fld, TIME_FIELDS))
            continue
        flist = _as_list(f)
        for one in flist:
            why = format_problem(one)
            if why:
                problems.append(f"`formats.{fld}` {one!r} {why}")
        field_formats[fld] = tuple(flist)
    return {"timestamp_formats": tuple(formats), "field_formats": field_formats}


def _categories_table(
    cats: dict, mapped: set[str], problems: list[str]
) -> dict[str, tuple[str, ...]]:
    """``[categories]``: known categories, each a list of glob patterns on ``call_type``."""
    categories: dict[str, tuple[str, ...]] = {}
    for cat, patterns in cats.items():
        if cat not in CATEGORIES:
            problems.append(_unknown("[categories]", cat, CATEGORIES))
            continue
        plist = _as_list(patterns)
        if not all(isinstance(p, str) for p in plist):
            problems.append(f"`categories.{cat}` must be a list of text patterns")
            continue
        for pat in plist:
            why = _glob_problem(pat)
            if why:
                problems.append(f"`categories.{cat}` pattern {pat!r} {why}")
        categories[cat] = tuple(plist)
    if categories and "call_type" not in mapped:
        problems.append("[categories] needs `call_type` to be mapped")
    return categories


def _glob_problem(pat: str) -> str | None:
    """Why a ``[categories]`` pattern is not a usable glob (None when it is): blank, stray
    spaces (call types are compared stripped) or an unclosed ``[``; ``*``, ``?``, ``[abc]``,
    ``[!abc]`` and ``[[]`` (a literal bracket) are the wildcards, as in :mod:`fnmatch`."""
    if not pat.strip():
        return "is blank; give a call type or a glob like 'Medical*'"
    if pat != pat.strip():
        return "has leading or trailing spaces (call types are compared stripped); remove them"
    import polars as pl

    from .globs import glob_to_regex

    try:
        pl.Series(["x"]).str.contains(glob_to_regex(pat))
    except (ValueError, pl.exceptions.PolarsError) as exc:
        return (
            f"is not a valid glob ({exc}); * is any text, ? one character, [abc] one of "
            "a, b, c; write [[] for a literal ["
        )
    return None


def _validation_table(val: dict, problems: list[str]) -> dict:
    """``[validation]``: interval limits, stage_order, require_coordinates and bbox."""
    for key in val:
        if key not in _KNOWN_VALIDATION:
            problems.append(_unknown("[validation]", key, _KNOWN_VALIDATION))
    limits = {
        k: val.get(k, default) for k, default in (("max_interval_s", 21600), ("max_span_s", 172800))
    }
    stage_order = val.get("stage_order", "all")
    if stage_order not in ("all", "response"):
        problems.append(
            f"`stage_order` {stage_order!r} must be 'all' (reject any stage out of "
            "order) or 'response' (reject only up to on-scene; flag later stages)"
        )
    # `stage_order` predates per-interval exclusion: a profile that sets it and not
    # `on_stage_error` keeps the strict behaviour it was written for
    on_error = val.get("on_stage_error", "reject" if "stage_order" in val else "exclude")
    if on_error not in ("exclude", "reject"):
        problems.append(
            f"`on_stage_error` {on_error!r} must be 'exclude' (a bad stage excludes the "
            "intervals that use it, the row is kept and flagged) or 'reject' (the row is "
            "rejected)"
        )
    for key, v in limits.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            problems.append(f"`{key}` must be a positive number of seconds, got {v!r}")
        else:
            limits[key] = float(v)
    require = val.get("require_coordinates")
    if require is not None and not isinstance(require, bool):
        problems.append(f"`require_coordinates` must be true or false, got {require!r}")
    return {
        **limits,
        "stage_order": stage_order,
        "on_stage_error": on_error,
        "require_coordinates": require,
        "bbox": _bbox(val.get("bbox"), problems),
    }


def _bbox(bbox, problems: list[str]) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    ok = (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(b, (int, float)) for b in bbox)
        and bbox[0] < bbox[2]
        and bbox[1] < bbox[3]
    )
    if not ok:
        problems.append(f"`bbox` {bbox!r} must be [min_lon, min_lat, max_lon, max_lat] in degrees")
        return None
    min_lon, min_lat, max_lon, max_lat = (float(b) for b in bbox)
    return min_lon, min_lat, max_lon, max_lat
