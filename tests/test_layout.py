"""The code's layout holds: layers point one way and no module imports in a cycle (STYLE.md 12).

`make test` also runs import-linter's contracts (pyproject.toml); these tests add what they leave
out: a cycle through the wiring modules, and importing a higher layer's module first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("portal", "projects", "deployments", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == []


def test_an_api_module_imports_first_without_a_partially_initialized_module() -> None:
    code = "import django; django.setup(); import deployments.api.deployments; import portal.api"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "portal.settings", "DATA_DIR": str(ROOT / "var" / "test"), "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
