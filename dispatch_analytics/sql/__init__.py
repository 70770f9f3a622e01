"""Every SQL file of the package: the analyst query library and the shared macros.

The files ship as package data (``dispatch_analytics/sql/*.sql``; the repository's
``queries/`` is a link to this folder). A missing file is an error, never an empty result.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import QueryError

__all__ = ["SQL_DIR", "queries_dir", "read_sql", "macro_statements", "sql_str"]


def sql_str(s: object) -> str:
    """``s`` as a SQL string literal (single quotes doubled): paths, names and ids written
    into generated SQL."""
    return "'" + str(s).replace("'", "''") + "'"


#: The folder holding the package's SQL files.
SQL_DIR = Path(__file__).resolve().parent


def queries_dir() -> Path:
    """``$DISPATCH_QUERIES_DIR``, else the package's SQL folder."""
    env = os.environ.get("DISPATCH_QUERIES_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return SQL_DIR


def read_sql(name: str, directory: str | os.PathLike | None = None) -> str:
    """The text of ``<name>.sql`` (from ``directory``, else the package's SQL folder).

    Raises
    ------
    QueryError
        The file is missing: the installation is broken (reinstall the package).
    """
    d = Path(directory) if directory else SQL_DIR
    path = d / f"{name}.sql"
    if not path.is_file() and directory is not None:
        path = SQL_DIR / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QueryError(
            f"the package SQL file {path} is missing ({exc.strerror}); the installation is "
            "incomplete: reinstall dispatch-analytics (`pip install --force-reinstall .`)"
        ) from exc


def macro_statements(
    directory: str | os.PathLike | None = None, temporary: bool = True
) -> list[str]:
    """The ``create macro`` statements of ``_macros.sql`` (``temporary=False`` for a catalog).

    Raises
    ------
    QueryError
        ``_macros.sql`` is missing or holds no macro.
    """
    text = read_sql("_macros", directory)
    stmts = []
    for chunk in re.split(r";[ \t]*$", text, flags=re.M):
        code = "\n".join(ln for ln in chunk.splitlines() if not ln.strip().startswith("--"))
        if code.strip():
            stmts.append(
                code.strip() if temporary else code.strip().replace(" temp macro ", " macro ", 1)
            )
    if not stmts:
        raise QueryError(f"{SQL_DIR / '_macros.sql'} holds no macro; reinstall the package")
    return stmts
