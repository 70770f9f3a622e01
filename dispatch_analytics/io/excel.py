"""Excel workbooks (.xlsx and legacy .xls) read through Polars ``read_excel`` with the
``calamine`` engine (``fastexcel``), one sheet at a time.

Date cells stay datetimes (read in the agency zone like any local time); other cells become
text as the CAD wrote them (a whole number stored as a float is written without ``.0``), so
ids keep their form and numeric times (Excel serial day numbers) can be read with the
``"excel"`` timestamp format.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..errors import IngestError

__all__ = ["excel_sheets", "read_excel_sheet"]


def excel_sheets(path: Path) -> list[str]:
    """The sheet names of a workbook, in order.

    Parameters
    ----------
    path : Path

    Returns
    -------
    list of str

    Raises
    ------
    IngestError
        The workbook cannot be opened.
    """
    import fastexcel

    try:
        return list(fastexcel.read_excel(str(path)).sheet_names)
    except Exception as exc:  # fastexcel raises its own exception classes
        raise IngestError(
            f"{path}: the content is an Excel workbook, but it cannot be opened ({exc}); "
            "open it in Excel and save it again, or export it as CSV"
        ) from exc


def read_excel_sheet(path: Path, sheet: str | None, shown_as: Path | None = None) -> pl.DataFrame:
    """One sheet as a frame: date cells as naive datetimes, every other cell as text.

    Parameters
    ----------
    path : Path
        The workbook.
    sheet : str or None
        The sheet name (None: the first sheet).
    shown_as : Path, optional
        The file name to use in messages (when ``path`` is an unpacked copy).

    Returns
    -------
    polars.DataFrame

    Raises
    ------
    IngestError
        An unknown sheet (the message lists the sheets), an empty sheet, an unreadable file.
    """
    name = shown_as or path
    sheets = excel_sheets(path)
    if not sheets:
        raise IngestError(f"{name}: the workbook has no sheet")
    if sheet is not None and sheet not in sheets:
        raise IngestError(
            f"{name}: `sheet` {sheet!r} is not in the workbook; its sheets are "
            + ", ".join(repr(s) for s in sheets)
            + "; set [source] sheet to one of them"
        )
    try:
        df = pl.read_excel(path, sheet_name=sheet or sheets[0], engine="calamine")
    except Exception as exc:  # calamine / fastexcel raise several kinds
        raise IngestError(f"{name}: cannot read sheet {sheet or sheets[0]!r}: {exc}") from exc
    if not df.columns or df.height == 0 and not any(c.strip() for c in df.columns):
        raise IngestError(f"{name}: sheet {sheet or sheets[0]!r} is empty (no header row)")
    return df.select([_as_text(df[c]) for c in df.columns])


def _as_text(s: pl.Series) -> pl.Series:
    """Date / datetime cells stay temporal (microseconds); everything else becomes text."""
    if isinstance(s.dtype, pl.Datetime):
        return s.cast(pl.Datetime("us", s.dtype.time_zone))
    if isinstance(s.dtype, pl.Date):
        return s.cast(pl.Datetime("us"))
    if s.dtype.is_float():
        whole = s.is_finite() & (s == s.floor()) & (s.abs() < 2**53)
        as_int = s.cast(pl.Int64, strict=False).cast(pl.String)
        return as_int.zip_with(whole.fill_null(False), s.cast(pl.String)).alias(s.name)
    if s.dtype == pl.Duration:
        return (s.dt.total_microseconds() / 86_400e6).cast(pl.String).alias(s.name)
    return s.cast(pl.String)
