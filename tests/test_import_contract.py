"""digitpad.core stays free of Qt: the import-linter contract, and a real import in a fresh process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

CORE_MODULES = sorted(".".join(p.relative_to(ROOT / "digitpad" / "core").with_suffix("").parts)
                      for p in (ROOT / "digitpad" / "core").rglob("*.py") if p.stem != "__init__")


# each subprocess here may take up to its own 300 s on a loaded machine: the test's limit is
# above it, so a hang ends in TimeoutExpired with the output, not in the watchdog's dump
pytestmark = pytest.mark.timeout(330)


def test_import_linter_contract_is_kept():
    assert LINT_IMPORTS.exists(), f"import-linter is not installed next to {sys.executable}"
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "digitpad.core never imports Qt, pyqtgraph or the app KEPT" in proc.stdout
    assert "0 broken" in proc.stdout


def test_importing_core_does_not_load_qt():
    assert {"nets.models", "learning.training", "nets.checkpoint", "data.mnist"} <= set(CORE_MODULES)
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module('digitpad.core.' + name)\n"
        "import digitpad.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')"
        " or m.startswith('digitpad.app'))\n"
        "print(json.dumps({'bad': bad, 'core': sorted(m for m in sys.modules if m.startswith('digitpad.core.'))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bad"] == []
    assert {f"digitpad.core.{m}" for m in CORE_MODULES} <= set(result["core"])


def test_the_core_rooms_point_down():
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert "imports only point down the stack KEPT" in proc.stdout, proc.stdout


# --- import circles anywhere in digitpad/ --------------------------------------------------
# import-linter's contracts cover the core's rooms and the tabs; a circle elsewhere (the app's
# widgets, the CLI) or one made of imports inside functions would pass them. This reads every
# import statement of every module with ast and finds the strongly connected components.

def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (at any depth of the code, relative or not)."""
    import ast

    mods = {}
    for f in package.rglob("*.py"):
        name = ".".join(f.relative_to(package.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:  # `from pkg import name`: name may be no module
                    t = t.rpartition(".")[0]
                # a module importing its own package (its __init__) is how Python loads it
                if t and t != m and not m.startswith(t + "."):
                    graph[m].add(t)
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module: each is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_no_import_circle_anywhere_in_digitpad():
    graph = import_graph(ROOT / "digitpad")
    assert {"digitpad.cli", "digitpad.app.main_window", "digitpad.core.nets.models"} <= set(graph)
    assert "digitpad.core.nets.models" in graph["digitpad.core.reading.predict"]
    circles = import_circles(graph)
    assert circles == [], "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_an_import_circle_is_found_and_named(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for init in (pkg / "__init__.py", pkg / "sub" / "__init__.py"):
        init.write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g  # inside a function\n")
    (pkg / "c.py").write_text("import pkg.a\n\ndef g():\n    pass\n")
    (pkg / "d.py").write_text("from pkg import a, c\n")  # imports the circle, is not in it
    assert import_circles(import_graph(pkg)) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    (pkg / "c.py").write_text("def g():\n    pass\n")
    assert import_circles(import_graph(pkg)) == []
