"""Checks shared by zone layers and stations: field names, ids, layer names, value lists.

The checks return messages (or lists of them) rather than raising, so a loader can collect
every problem of a file and raise once (:class:`~dispatch_analytics.errors.ZoneError`,
:class:`~dispatch_analytics.errors.StationError` take a list of problems).
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

import numpy as np

from ..errors import ProblemsError, ZoneError

__all__ = [
    "LAYER_NAME_RE",
    "MAX_LISTED",
    "check_layer_name",
    "checked_ids",
    "feature_labels",
    "field_problem",
    "id_problems",
    "listing",
    "text_values",
]

#: A layer name: snake_case, starting with a letter.
LAYER_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")

#: Items named in one message at most (:func:`listing`).
MAX_LISTED = 20


def field_problem(arg: str, name: str, fields: Sequence[str], path) -> str | None:
    """Check that ``name`` is one of ``fields``.

    Parameters
    ----------
    arg : str
        The argument that named the field (e.g. ``"id_field"``), quoted in the message.
    name : str
        The field asked for.
    fields : sequence of str
        The fields of the source.
    path : path or str
        The source, named in the message.

    Returns
    -------
    str or None
        None if ``name`` is a field; else a message suggesting the field differing only in
        case, or listing the fields with the closest match.
    """
    if name in fields:
        return None
    ci = {f.lower(): f for f in fields}
    if name.lower() in ci:
        return (
            f"`{arg}` {name!r} is not a field of {path}; did you mean "
            f"{ci[name.lower()]!r}? (names are case-sensitive)"
        )
    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"`{arg}` {name!r} is not a field of {path}; available fields: "
        f"{', '.join(fields) or '(none)'}{hint}"
    )


def text_values(values: Iterable) -> list[str | None]:
    """Field values as stripped text.

    Parameters
    ----------
    values : iterable
        The values of a field.

    Returns
    -------
    list of str or None
        Blank, null and NaN become None; integral floats lose their decimals (5.0 -> "5").
    """
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
            continue
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        s = str(v).strip()
        out.append(s or None)
    return out


def listing(items: Iterable[str]) -> str:
    """At most :data:`MAX_LISTED` items, comma separated, with a count of the rest.

    Parameters
    ----------
    items : iterable of str

    Returns
    -------
    str
        e.g. ``"a, b, c"`` or ``"a, ..., t (and 5 more)"``.
    """
    items = list(items)
    head = ", ".join(items[:MAX_LISTED])
    return head + (f" (and {len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def id_problems(
    arg: str, name: str, ids: Sequence[str | None], noun: str, skip: Collection[int] = ()
) -> list[str]:
    """Blank and duplicate ids, named by feature number (the first feature is 1).

    Parameters
    ----------
    arg, name : str
        The argument naming the id field and the field, quoted in messages.
    ids : sequence of str or None
        The ids, in feature order (None: blank).
    noun : str
        What a feature is (``"zone"``, ``"station"``).
    skip : collection of int
        Positions not to report as blank (already reported otherwise).

    Returns
    -------
    list of str
        Up to two messages: blank ids, then duplicate ones.
    """
    problems = []
    blank = [str(i + 1) for i, v in enumerate(ids) if v is None and i not in skip]
    if blank:
        problems.append(
            f"blank `{arg}` {name!r} in {len(blank)} {noun}(s): feature "
            f"{listing(blank)} (1 = first feature); every {noun} needs an id"
        )
    counts = Counter(v for v in ids if v is not None)
    dups = [v for v, c in counts.items() if c > 1]
    if dups:
        where = [
            f"{v!r} (features {', '.join(str(i + 1) for i, x in enumerate(ids) if x == v)})"
            for v in dups
        ]
        problems.append(f"duplicate `{arg}` {name!r} values: {listing(where)}; ids must be unique")
    return problems


def checked_ids(ids: Sequence[str | None]) -> list[str]:
    """The ids of features that passed :func:`id_problems`, so none is blank.

    Parameters
    ----------
    ids : sequence of str or None
        The ids, in feature order, after the loader raised on every problem found.

    Returns
    -------
    list of str

    Raises
    ------
    ProblemsError
        An id is blank: the loader did not raise on it (an internal error).
    """
    out = [v for v in ids if v is not None]
    if len(out) != len(ids):
        raise ProblemsError("internal error: a blank id passed validation")
    return out


def feature_labels(ids: Sequence[str | None]) -> list[str]:
    """How messages name each feature: its id quoted, or ``feature N`` when it has none.

    Parameters
    ----------
    ids : sequence of str or None

    Returns
    -------
    list of str
    """
    return [repr(v) if v is not None else f"feature {i + 1}" for i, v in enumerate(ids)]


def check_layer_name(layer: object) -> None:
    """Check a zone layer name against :data:`LAYER_NAME_RE`.

    Parameters
    ----------
    layer : str
        The name.

    Raises
    ------
    ZoneError
        It is not snake_case starting with a letter; the message suggests a valid name.
    """
    if not isinstance(layer, str) or not LAYER_NAME_RE.fullmatch(layer):
        fix = re.sub(r"[^a-z0-9]+", "_", str(layer).strip().lower()).strip("_")
        if not fix or not fix[0].isalpha():
            fix = "zone_" + fix if fix else "zones"
        raise ZoneError(
            f"`layer` {layer!r} is not a valid layer name: use lower-case "
            f"letters, digits and underscores, starting with a letter, e.g. "
            f"{fix!r}"
        )
