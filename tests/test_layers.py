"""The house's floors: every import points down (or sideways without a circle), never up.

Read from the ``import`` statements themselves (:mod:`ast`), including the lazy ones inside
functions, which is where an upward arrow hides. The one exception is a module-level
``__getattr__`` (PEP 562): that is how a deprecated name forwards to its new home for one
release, and it runs only when the old name is used.

    ground     _deprecated _exceptions config _settings samples rundir progress
    metrics    metrics
    core       measure generate
    engines    lab lm probes monitor audit prefs realpair demo
    report     report
    jobs       jobs story
    entry      cli __init__ __main__

A new top-level module or package must be given a floor here before it can land.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rewardshift"

FLOORS: dict[str, int] = {
    **dict.fromkeys(["_deprecated", "_exceptions", "config", "_settings", "samples", "rundir",
                    "progress"], 0),
    "metrics": 1,
    **dict.fromkeys(["measure", "generate"], 2),
    **dict.fromkeys(["lab", "lm", "probes", "monitor", "audit", "prefs", "realpair", "demo"], 3),
    "images": 3,
    "report": 4,
    **dict.fromkeys(["jobs", "story"], 5),
    **dict.fromkeys(["cli", "__init__", "__main__"], 6),
}


def _unit(module: str) -> str:
    """``rewardshift.lab.run`` -> ``lab``; ``rewardshift`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path, src: Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, src: Path = SRC) -> list[tuple[str, int]]:
    """(imported rewardshift module, line) for every import in ``path`` outside ``__getattr__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path, src)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            skip.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return [(n, line) for n, line in found if n == "rewardshift" or n.startswith("rewardshift.")]


def _edges(root: Path = SRC) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the places; ``rewardshift`` itself is ``__init__``."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        me = _unit(_module_name(path, root))
        for target, line in _imports(path, root):
            dst = _unit(target)
            if dst != me:
                edges[(me, dst)].append(f"{path.relative_to(root.parent)}:{line}")
    return edges


def test_every_unit_has_a_floor():
    units = {_unit(_module_name(p)) for p in SRC.rglob("*.py")}
    assert units - FLOORS.keys() == set(), "give the new module a floor in FLOORS"


def test_no_import_points_up():
    up = [f"{a} (floor {FLOORS[a]}) -> {b} (floor {FLOORS[b]}) at {', '.join(where)}"
          for (a, b), where in _edges().items()
          if FLOORS.get(b, 99) > FLOORS.get(a, 99) and b != "__init__"]
    assert up == [], "imports that climb a floor:\n" + "\n".join(up)


def test_no_circle_between_units():
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in _edges():
        if b != "__init__":
            graph[a].add(b)
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt):] + [node, nxt] if nxt in stack
                             else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, stack + [node]):
                return True
        state[node] = 2
        return False

    for n in sorted(graph):
        if state.get(n) is None and visit(n, []):
            break
    assert cycle == [], "a circle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package", ["report"])
def test_no_circle_inside_report(package: str):
    """Inside report/: kit and figures below the renderers, nothing loops back."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in (SRC / package).glob("*.py"):
        me = _module_name(path)
        for target, _ in _imports(path):
            if target.startswith(f"rewardshift.{package}.") and target != me:
                graph[me].add(target)
    seen: dict[str, int] = {}

    def cyclic(node: str) -> bool:
        seen[node] = 1
        for nxt in graph[node]:
            if seen.get(nxt) == 1 or (seen.get(nxt) is None and cyclic(nxt)):
                return True
        seen[node] = 2
        return False

    assert not any(cyclic(n) for n in sorted(graph) if n not in seen)


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    """The checker can fail: an engine importing report inside a function is an edge."""
    pkg = tmp_path / "rewardshift"
    (pkg / "lab").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lab" / "__init__.py").write_text("")
    (pkg / "lab" / "run.py").write_text("def f():\n    from ..report import html\n")
    (pkg / "lab" / "old.py").write_text("def __getattr__(name):\n"
                                        "    from rewardshift.jobs import lab\n")
    edges = _edges(pkg)
    assert ("lab", "report") in edges and ("lab", "jobs") not in edges


def test_private_modules_stay_inside_their_package():
    """``rewardshift.pkg._name`` is imported only from inside ``rewardshift.pkg``."""
    leaks = []
    for path in sorted(SRC.rglob("*.py")):
        me = _module_name(path)
        for target, line in _imports(path):
            parts = target.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and i > 1]
            if private:
                owner = ".".join(parts[:private[0]])
                if not (me == owner or me.startswith(owner + ".")):
                    leaks.append(f"{path.relative_to(SRC.parent)}:{line} imports {target}")
    assert leaks == [], "private modules used from outside:\n" + "\n".join(leaks)
