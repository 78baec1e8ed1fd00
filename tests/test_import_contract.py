"""digitpad.core stays free of Qt: the import-linter contract, and a real import in a fresh process."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

CORE_MODULES = sorted(".".join(p.relative_to(ROOT / "digitpad" / "core").with_suffix("").parts)
                      for p in (ROOT / "digitpad" / "core").rglob("*.py") if p.stem != "__init__")


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


def test_no_import_circles_and_the_rooms_point_down():
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert "imports only point down the stack KEPT" in proc.stdout, proc.stdout
