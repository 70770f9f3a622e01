"""The package's shape: layers in the order data moves, no cycles, no dashboard in the library.

Layers (docs/architecture.md), lowest first; a module may import its own layer and lower ones:

    0 errors, _version, schema, sql   the shared contract
    1 io, sample                      reading and writing files
    2 ingest                          profiles, parsing, validation
    3 store                           the lake, the catalog, derived tables
    4 spatial                         zones, stations, units, assignment, H3
    5 metrics                         intervals, fractiles, standards, report, queries
    6 analysis                        coverage, hotspots, reliability, impact
    7 api, feeds                      operations spanning layers (ingest -> store -> spatial);
                                      live feeds (dispatch watch)
    8 cli                             the command line (an edge)
    9 the package facade              ``dispatch_analytics/__init__.py``
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "dispatch_analytics"
DASH = ROOT / "dash_app"

RANKS = {
    "errors": 0,
    "fmt": 0,
    "_version": 0,
    "schema": 0,
    "sql": 0,
    "io": 1,
    "sample": 1,
    "ingest": 2,
    "store": 3,
    "spatial": 4,
    "metrics": 5,
    "analysis": 6,
    "api": 7,
    "feeds": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 9,
}


def module_name(path: Path, base: Path) -> str:
    rel = path.relative_to(base.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def library_modules(base: Path = LIB) -> dict[str, Path]:
    return {module_name(p, base): p for p in sorted(base.rglob("*.py"))}


MODULES = set(library_modules()) | set(library_modules(DASH))


def imports_of(path: Path, name: str) -> list[tuple[str, int]]:
    """Every module ``path`` imports (module level or inside functions), resolved absolutely."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import x` imports the submodule pkg.x when there is one (the package
            # itself runs first either way, as for every import), else names of pkg
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES]
            found += [(m, node.lineno) for m in subs]
            if len(subs) < len(node.names):
                found.append((mod, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((str(node.args[0].value), node.lineno))
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def internal_edges() -> dict[str, set[str]]:
    mods = library_modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for target, _ in imports_of(p, m):
            if target in mods and target != m:
                edges[m].add(target)
    return edges


def test_every_library_module_has_a_layer():
    unknown = sorted({layer_of(m) for m in library_modules()} - set(RANKS))
    assert not unknown, (
        f"give these subpackages a rank in RANKS and docs/architecture.md: {unknown}"
    )


def test_lower_layers_never_import_higher_ones():
    problems = []
    for m, p in library_modules().items():
        for target, line in imports_of(p, m):
            if not target.startswith("dispatch_analytics"):
                continue
            src, dst = layer_of(m), layer_of(target)
            if RANKS[dst] > RANKS[src]:
                problems.append(f"{p.relative_to(ROOT)}:{line} ({src}) imports {target} ({dst})")
    assert not problems, "\n".join(problems)


def test_the_library_never_imports_the_dashboard():
    problems = []
    for m, p in library_modules().items():
        for target, line in imports_of(p, m):
            if target.split(".")[0] in ("dash_app", "dash", "plotly", "flask"):
                problems.append(f"{p.relative_to(ROOT)}:{line} imports {target}")
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    edges = internal_edges()
    # a package's __init__ importing its own submodules (to re-export them) is not a cycle
    for m in edges:
        if m != "dispatch_analytics" and library_modules()[m].name == "__init__.py":
            edges[m] = {t for t in edges[m] if not t.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_importing_every_library_module_loads_no_dashboard():
    code = (
        "import sys, importlib, pkgutil, dispatch_analytics\n"
        "for m in pkgutil.walk_packages(dispatch_analytics.__path__, 'dispatch_analytics.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('dash', 'plotly', 'flask')\n"
        "             or (k.startswith('dash_app') and k != 'dash_app' and k != 'dash_app.cli'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_finds_serve_through_its_entry_point():
    from importlib.metadata import entry_points

    from dispatch_analytics.cli import ENTRY_POINT_GROUP, app

    eps = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert eps.get("serve") == "dash_app.cli:register"
    names = {c.name for c in app.registered_commands}
    assert "serve" in names


@pytest.mark.parametrize("module", ["dispatch_analytics", "dash_app"])
def test_subpackages_declare_all(module):
    missing = []
    base = ROOT / module
    for p in sorted(base.rglob("*.py")):
        if p.name in ("__main__.py",) or p.name.startswith("_") and p.name != "__init__.py":
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        has_all = any(
            isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
            for n in tree.body
        )
        defines = any(
            isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")
            for n in tree.body
        )
        if defines and not has_all:
            missing.append(str(p.relative_to(ROOT)))
    assert not missing, f"modules without __all__: {missing}"


MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _long_comment_above(lines: list[str], first: int) -> bool:
    """Whether the comment block right above line ``first`` (1-based) holds ``# Long:``."""
    i = first - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        if lines[i].strip().startswith("# Long:"):
            return True
        i -= 1
    return False


@pytest.mark.parametrize("module", ["dispatch_analytics", "dash_app", "bench"])
def test_modules_and_functions_stay_readable(module):
    """No module above ~500 lines; no function above ~80 lines (its docstring not counted)
    unless a ``# Long:`` comment above it says why. The benchmark scripts are held to the
    same sizes: they are read (and copied) as much as the library."""
    big_modules, big_functions = [], []
    for p in sorted((ROOT / module).rglob("*.py")):
        text = p.read_text(encoding="utf-8")
        lines = text.splitlines()
        rel = str(p.relative_to(ROOT))
        if len(lines) > MAX_MODULE_LINES:
            big_modules.append(f"{rel}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            n = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(
                getattr(first, "value", None), ast.Constant
            ):
                n -= first.end_lineno - first.lineno + 1
            top = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if n > MAX_FUNCTION_LINES and not _long_comment_above(lines, top):
                big_functions.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert not big_modules, f"modules over {MAX_MODULE_LINES} lines: {big_modules}"
    assert not big_functions, (
        f"functions over {MAX_FUNCTION_LINES} lines without a `# Long:` comment: {big_functions}"
    )


TEST_MODULES = {p.stem for p in (ROOT / "tests").glob("*.py")}


@pytest.mark.parametrize("module", ["dispatch_analytics", "dash_app", "bench"])
def test_nothing_imports_the_tests(module):
    """The library, the dashboard and the benches never import from ``tests/`` nor put it on
    ``sys.path`` (shared helpers live in the library, e.g. ``feeds/pg_local.py``)."""
    problems = []
    for p in sorted((ROOT / module).rglob("*.py")):
        text = p.read_text(encoding="utf-8")
        rel = p.relative_to(ROOT)
        for node in ast.walk(ast.parse(text)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for n in names:
                if n.split(".")[0] in TEST_MODULES | {"tests"}:
                    problems.append(f"{rel}:{node.lineno} imports {n}")
        if '"tests"' in text and "sys.path" in text:
            problems.append(f"{rel}: puts tests/ on sys.path")
    assert not problems, "\n".join(problems)


def test_the_cli_repeats_the_feed_stale_default_exactly():
    # cli/watch.py repeats the default so that loading the CLI does not import the feeds
    from dispatch_analytics.cli.watch import STALE_AFTER_S
    from dispatch_analytics.feeds.status import DEFAULT_STALE_AFTER_S

    assert STALE_AFTER_S == DEFAULT_STALE_AFTER_S


def test_no_formatter_exemptions():
    """`ruff format` formats every line (issue 7): no skip or off comment exempts one."""
    marks = ("# fmt" + ": skip", "# fmt" + ": off")  # spelt apart: this file is checked too
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for folder in ("dispatch_analytics", "dash_app", "tests", "bench", "docs")
        for p in sorted((ROOT / folder).rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if any(m in line for m in marks)
    ]
    assert not found, f"remove the marks and run `ruff format`: {found}"
