"""podcast_assets/core is pure logic: it must never import dagster, directly or through another module."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

CORE = PROJECT_ROOT / "podcast_assets" / "core"


def test_no_core_module_imports_dagster_in_its_source():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0].startswith("dagster")]
    assert offenders == []


def test_importing_every_core_module_does_not_load_dagster():
    modules = [
        ".".join(("podcast_assets", "core", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")
        for p in sorted(CORE.rglob("*.py"))
    ]
    assert "podcast_assets.core.ingest.pdf.process" in modules and "podcast_assets.core.analysis.aggregate" in modules
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]"
