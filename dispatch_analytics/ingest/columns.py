"""The profile's column mapping applied to raw rows: does a file have the mapped columns, and
the canonical text fields (ids, call type, category, ...) of a chunk."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ..errors import IngestError
from ..schema.fields import TEXT_FIELDS
from .globs import glob_to_regex
from .profiles import SourceProfile

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

__all__ = [
    "hashed_id",
    "check_columns",
    "raw_text",
    "text_expr",
    "category_expr",
    "map_text",
    "null_series",
]


def check_columns(profile: SourceProfile, columns: list[str], path: Path) -> None:
    """Check that a file has every column the profile maps.

    Parameters
    ----------
    profile : SourceProfile
    columns : list of str
        The file's column names.
    path : Path
        The file, named in the message.

    Raises
    ------
    IngestError
        Listing every mapped column the file lacks, with the closest name it has.
    """
    problems = []
    for fld, cols in profile.source_columns.items():
        for col in cols:
            if col not in columns:
                close = difflib.get_close_matches(col, columns, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(f"`{fld}` maps to column {col!r}, which {path} lacks{hint}")
    if problems:
        raise IngestError(
            f"{path} does not fit profile {profile.name!r}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def null_series(n: int, dtype: pl.DataType, name: str = "") -> pl.Series:
    """A series of nulls.

    Parameters
    ----------
    n : int
        Length.
    dtype : polars.DataType
    name : str
        The series name.

    Returns
    -------
    polars.Series
    """
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(name)


def raw_text(col: str) -> pl.Expr:
    """A raw column as text, stripped, blank -> null.

    Parameters
    ----------
    col : str
        The source column.

    Returns
    -------
    polars.Expr
    """
    e = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(e == "").then(None).otherwise(e)


def text_expr(profile: SourceProfile, fld: str) -> pl.Expr:
    """A canonical field as text: its mapped column, its constant, or null.

    Parameters
    ----------
    profile : SourceProfile
    fld : str
        A canonical field name.

    Returns
    -------
    polars.Expr
    """
    if fld == "agency":
        default = profile.default_agency
        if "agency" in profile.columns:
            col = raw_text(profile.columns["agency"])
            return col if default is None else col.fill_null(pl.lit(default, pl.String))
        return pl.lit(default, pl.String)
    if fld == "incident_id" and profile.id_hash:
        return hashed_id(profile.id_hash)
    if fld in profile.columns:
        return raw_text(profile.columns[fld])
    if fld in profile.constants:
        return pl.lit(profile.constants[fld], pl.String)
    return pl.lit(None, pl.String)


def _digest(values: pl.Series) -> pl.Series:
    """``h`` + the first 16 hex digits of the SHA-256 of each text (null stays null).

    Hand-written with hashlib: Polars' own ``hash`` is documented as not stable across
    versions, and an id must stay the same across re-exports and upgrades."""
    out = [None if v is None else "h" + hashlib.sha256(v.encode()).hexdigest()[:16] for v in values]
    return pl.Series(values.name, out, dtype=pl.String)


def hashed_id(cols: tuple[str, ...]) -> pl.Expr:
    """An incident id derived from columns: the digest of their normalised text (trimmed,
    inner runs of white space made one space, upper case; blank cells as empty text), NULL when
    every column is blank. Same content, same id, whatever the row order or export.

    Parameters
    ----------
    cols : tuple of str
        The source columns, in the profile's order.

    Returns
    -------
    polars.Expr
    """
    parts = [
        pl.col(c).cast(pl.String).str.strip_chars().str.replace_all(r"\s+", " ").str.to_uppercase()
        for c in cols
    ]
    joined = pl.concat_str([p.fill_null("") for p in parts], separator="\x1f")
    blank = pl.all_horizontal([p.is_null() | (p == "") for p in parts])
    return pl.when(blank).then(None).otherwise(joined).map_batches(_digest, return_dtype=pl.String)


def _glob_regex(patterns: Iterable[str]) -> str:
    return "(?i)(?:" + "|".join(glob_to_regex(p) for p in patterns) + ")"


def category_expr(profile: SourceProfile) -> pl.Expr:
    """``call_category``: mapped (lower-cased), or from ``call_type`` by the [categories] globs
    (first matching category wins; else 'other'), or null when neither is given.

    Parameters
    ----------
    profile : SourceProfile

    Returns
    -------
    polars.Expr
    """
    if "call_category" in profile.mapped_fields:
        return text_expr(profile, "call_category").str.to_lowercase()
    if not profile.categories:
        return pl.lit(None, pl.String)
    ct = text_expr(profile, "call_type")
    expr: Then | ChainedThen = pl.when(ct.is_null()).then(pl.lit("other"))
    for cat, pats in profile.categories.items():
        expr = expr.when(ct.str.contains(_glob_regex(pats))).then(pl.lit(cat))
    return expr.otherwise(pl.lit("other"))


def map_text(df: pl.DataFrame, profile: SourceProfile) -> pl.DataFrame:
    """The canonical ids and text fields of a raw chunk.

    Parameters
    ----------
    df : polars.DataFrame
        Raw rows.
    profile : SourceProfile

    Returns
    -------
    polars.DataFrame
        ``incident_id``, ``unit_id``, the text fields and ``call_category``, in that order.
    """
    return df.select(
        [
            text_expr(profile, f).alias(f)
            for f in ("incident_id", "unit_id", *TEXT_FIELDS)
            if f != "call_category"
        ]
        + [category_expr(profile).alias("call_category")]
    )
