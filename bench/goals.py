"""The speed goals of ``make bench``: each bench script records its goals here, and
``python bench/goals.py`` (the last line of ``make bench``) prints them all in one table.

A goal is one JSON file ``bench/_work/goals/<key>.json``::

    {"work": "p90 by zone x month, 10,000,000 incidents",      # what was measured
     "measured": "ours 1.61 s vs bare DuckDB 1.20 s",          # the figures, for people
     "ratio": 1.34,        # the compared quantity when the goal is a ratio (else null)
     "value": null,        # the measured quantity when the goal is a limit (e.g. p95 ms)
     "goal": "<= 1.5x",    # the goal as text: "<= 1.5x", ">= 5x", "< 300 ms"
     "met": true,
     "detail": "where the time goes ..."}

Writers (bench scripts) call :func:`write_goal`; ``met`` is computed from the goal text and the
number unless given. Standard library only, so any bench script (or another language's) can
write the files and this module runs with a bare interpreter::

    from goals import write_goal
    write_goal("query_vs_duckdb", work="p90 by zone x month at 10M incidents",
               measured="ours 1.6 s, bare DuckDB 1.2 s", ratio=1.33, goal="<= 1.5x")

``python bench/goals.py [--dir DIR] [--json]`` prints every goal found: MET / MISSED, and for a
missed goal by how much (the factor between the measured number and the goal's bound). It
exits 0 whether goals are met or not (benchmarks assert nothing); 1 only when a goal file
cannot be read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["GOALS_DIR", "parse_goal", "goal_met", "write_goal", "read_goals", "shortfall", "table"]

#: Where the goal files live (``BENCH_GOALS_DIR`` overrides it, e.g. in tests).
GOALS_DIR = Path(
    os.environ.get("BENCH_GOALS_DIR", Path(__file__).resolve().parent / "_work" / "goals")
)
_KEYS = ("work", "measured", "ratio", "value", "goal", "met", "detail")
_GOAL = re.compile(r"(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*([A-Za-z%]*)")


def parse_goal(goal: str) -> tuple[str, float, str]:
    """``"<= 1.5x"`` -> ``("<=", 1.5, "x")``; ``"p95 < 300 ms"`` -> ``("<", 300.0, "ms")``.

    Raises
    ------
    ValueError
        When the text has no comparison (``<=``, ``>=``, ``<``, ``>``) followed by a number.
    """
    m = _GOAL.search(goal)
    if not m:
        raise ValueError(
            f"`goal` {goal!r} must be a comparison and a number, e.g. '<= 1.5x' or '< 300 ms'"
        )
    return m.group(1), float(m.group(2)), m.group(3).strip()


def goal_met(goal: str, number: float | None) -> bool:
    """Whether ``number`` satisfies ``goal`` (False for a missing or NaN number)."""
    if number is None or (isinstance(number, float) and math.isnan(number)):
        return False
    op, bound, _ = parse_goal(goal)
    return {
        "<=": number <= bound,
        ">=": number >= bound,
        "<": number < bound,
        ">": number > bound,
    }[op]


def write_goal(
    key: str,
    *,
    work: str,
    measured: str,
    goal: str,
    ratio: float | None = None,
    value: float | None = None,
    met: bool | None = None,
    detail: str = "",
    directory: str | os.PathLike | None = None,
) -> Path:
    """Write ``<directory>/<key>.json`` (atomically) and return its path.

    Parameters
    ----------
    key : str
        The goal's name, e.g. ``query_vs_duckdb`` (letters, digits, ``_`` and ``-``).
    work, measured, goal, detail : str
        What was measured, the figures, the goal (``"<= 1.5x"``) and where the time goes.
    ratio, value : float, optional
        The number compared with the goal: a ratio, or a value (ms, s) for a limit.
    met : bool, optional
        Default: computed from ``goal`` and ``ratio`` (else ``value``).
    directory : path, optional
        Default :data:`GOALS_DIR`.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
        raise ValueError(f"goal `key` {key!r} must be letters, digits, '_' or '-'")
    parse_goal(goal)  # fail early on a goal nobody can check
    number = ratio if ratio is not None else value
    rec = {
        "work": work,
        "measured": measured,
        "ratio": None if ratio is None else float(ratio),
        "value": None if value is None else float(value),
        "goal": goal,
        "met": bool(goal_met(goal, number) if met is None else met),
        "detail": detail,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    d = Path(directory) if directory is not None else GOALS_DIR
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{key}.json"
    tmp = d / f".{key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_goals(directory: str | os.PathLike | None = None) -> tuple[dict[str, dict], list[str]]:
    """Every goal file of ``directory``: ``({key: record}, [problems])`` (a file that is not
    JSON, or lacks a field, is a problem naming the file, not an exception)."""
    d = Path(directory) if directory is not None else GOALS_DIR
    goals: dict[str, dict] = {}
    problems: list[str] = []
    for path in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: not a goal file ({exc}); re-run the bench that writes it")
            continue
        missing = [k for k in _KEYS if not isinstance(rec, dict) or k not in rec]
        if missing:
            problems.append(f"{path}: lacks {', '.join(missing)}; re-run the bench that writes it")
            continue
        goals[path.stem] = rec
    return goals, problems


def shortfall(rec: dict) -> str:
    """How far a goal is from its bound: ``"1.80x the limit (2.7x vs 1.5x)"`` (an upper
    bound), ``"only 60% of the goal (3x vs 5x)"`` (a lower bound); empty when met or when there is no number to compare."""
    number = rec.get("ratio") if rec.get("ratio") is not None else rec.get("value")
    try:
        op, bound, unit = parse_goal(str(rec.get("goal", "")))
    except ValueError:
        return ""
    if rec.get("met") or number is None or bound == 0:
        return ""
    u = unit if unit in ("x", "%") else (f" {unit}" if unit else "")
    if op in ("<=", "<"):
        return f"{number / bound:.2f}x the limit ({number:.3g}{u} vs {bound:g}{u})"
    return f"only {number / bound:.0%} of the goal ({number:.3g}{u} vs {bound:g}{u})"


def table(goals: dict[str, dict], directory: str | os.PathLike | None = None) -> str:
    """The summary table of ``goals`` (one line per goal, then the details)."""
    if not goals:
        where = directory if directory is not None else GOALS_DIR
        return f"No speed goals recorded in {where} (run the bench scripts first: make bench)."
    rows = []
    for key, g in goals.items():
        number = g["ratio"] if g["ratio"] is not None else g["value"]
        shown = (
            ""
            if number is None
            else (f"{number:.2f}x" if g["ratio"] is not None else f"{number:g}")
        )
        rows.append(
            (key, g["goal"], shown, "MET" if g["met"] else "MISSED", shortfall(g), g["work"])
        )
    head = ("goal", "target", "measured", "result", "missed by", "work")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["Speed goals (make bench)", "-" * min(sum(widths) + 2 * len(widths), 160)]
    for r in [head, *rows]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lines.append("-" * min(sum(widths) + 2 * len(widths), 160))
    n_met = sum(1 for g in goals.values() if g["met"])
    lines.append(f"{n_met} of {len(goals)} goals met")
    for key, g in goals.items():
        lines.append(f"  {key}: {g['measured']}" + (f"; {g['detail']}" if g["detail"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Print every speed goal the bench scripts recorded, MET or MISSED.",
        epilog="Example:  python bench/goals.py --dir bench/_work/goals",
    )
    ap.add_argument("--dir", default=None, help=f"goal files folder (default {GOALS_DIR})")
    ap.add_argument("--json", action="store_true", help="print the goals as one JSON object")
    args = ap.parse_args(argv)
    goals, problems = read_goals(args.dir)
    if args.json:
        print(json.dumps(goals, indent=1))
    else:
        print(table(goals, args.dir))
    for p in problems:
        print(f"Error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
