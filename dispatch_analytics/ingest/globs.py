"""Glob patterns (the ``[categories]`` rules) as regular expressions for Polars, matching
exactly as :func:`fnmatch.fnmatchcase` does (Polars' Rust regex has no ``\\Z`` nor the
atomic groups ``fnmatch.translate`` writes, so the translation is done here)."""

from __future__ import annotations

import re

__all__ = ["glob_to_regex"]


def glob_to_regex(pat: str) -> str:
    """One glob as an anchored regex, with the semantics of :func:`fnmatch.fnmatchcase`:
    ``*`` any text, ``?`` one character, ``[abc]`` / ``[!abc]`` a character (class), ``[[]`` a
    literal bracket.

    Raises
    ------
    ValueError
        An unclosed ``[``.
    """
    out, i, n = [], 0, len(pat)
    while i < n:
        c = pat[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1 if i < n and pat[i] == "!" else i
            j = j + 1 if j < n and pat[j] == "]" else j
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                raise ValueError(f"unclosed '[' at position {i}")
            body = pat[i:j]
            i = j + 1
            neg = body.startswith("!")
            body = body[1:] if neg else body
            chars = "".join(
                "\\" + ch if ch in "\\^[]&~-" and not _range(body, k) else ch
                for k, ch in enumerate(body)
            )
            out.append(f"[{'^' if neg else ''}{chars}]")
        else:
            out.append(re.escape(c))
    return "^" + "".join(out) + "$"


def _range(body: str, k: int) -> bool:
    """True when ``body[k]`` is the dash of a range like ``a-z``."""
    return body[k] == "-" and 0 < k < len(body) - 1
