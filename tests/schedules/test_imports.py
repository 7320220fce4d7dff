"""The engine's modules form no import cycle, and each one imports alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import lrcast.schedules

PACKAGE = Path(lrcast.schedules.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def _local_imports(module: str) -> set[str]:
    """The package modules `module` imports (relative imports, TYPE_CHECKING ones included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found - {module}


def test_the_import_graph_has_no_cycle() -> None:
    graph = {m: _local_imports(m) for m in MODULES if m != "__init__"}
    assert all(dep in graph for deps in graph.values() for dep in deps)
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("module", [m for m in MODULES if m != "__init__"])
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import lrcast.schedules.{module}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_type_is_in_the_one_table() -> None:
    """No registration by side effect: the table is complete before any parse."""
    code = ("from lrcast.schedules._registry import BUILDERS; "
            "from lrcast.schedules import schedule_types; "
            "assert sorted(BUILDERS) == schedule_types() and len(BUILDERS) > 20")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
