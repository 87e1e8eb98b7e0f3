"""The layering checks of `make test` can fail: each is fed a small tree that breaks it.

tools/lazy_imports.py (lazy project imports, package cycles, packages outside the contract)
and lint-imports (the contract in pyproject.toml: imports inside functions count too).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tools import lazy_imports
from tools.lazy_imports import ALLOWED, ROOT, check, collect, layered_packages, root_packages


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


# low is the lower layer, high the upper one; extra is a package nobody put in the contract.
TREE = {
    "low/__init__.py": "",
    "low/base.py": """
        import json


        def helper():
            import os  # not ours: fine
            return json, os
        """,
    "low/store.py": "",
    "low/apps.py": """
        class Config:
            def ready(self):
                from low import store  # allowed below, with its reason
                return store
        """,
    "low/upward.py": """
        def sneaky():
            import high.views  # a function-level upward import: the cycle's hidden half
            return high.views


        class Thing:
            async def method(self):
                from . import base  # same package, relative, but lazy and not listed
                return base
        """,
    "low/migrations/__init__.py": "",
    "low/migrations/0001_initial.py": """
        def forwards(apps, schema_editor):
            from high import views  # migrations are not checked
            return views
        """,
    "high/__init__.py": "",
    "high/views.py": """
        from low.base import helper

        __all__ = ["helper"]
        """,
    "extra/__init__.py": "",
    "tests/__init__.py": "",
}


def test_the_checker_reports_lazy_imports_cycles_and_packages_outside_the_contract(tmp_path):
    write_tree(tmp_path, TREE)
    allowed = {
        ("low.apps", "low.store"): "AppConfig.ready",
        ("low.gone", "high.views"): "an import that no longer exists",
        ("high.views", "low.base"): "",
    }
    problems = check(tmp_path, ["low", "high"], ["high", "low", "low"], allowed)
    text = "\n".join(problems)

    lazy = [p for p in problems if "inside a function;" in p]
    assert len(lazy) == 2, text
    assert any(p.startswith("low/upward.py:3: low.upward imports high.views") for p in lazy), text
    assert any(p.startswith("low/upward.py:9: low.upward imports low.base") for p in lazy), text
    assert not any("low.apps" in p or "migrations" in p or " os" in p for p in problems), text

    assert "ALLOWED low.gone -> high.views: no such import" in text
    assert "ALLOWED high.views -> low.base: give the reason" in text

    cycles = [p for p in problems if p.startswith("import cycle")]
    assert len(cycles) == 1, text
    assert cycles[0].startswith("import cycle between packages high, low:")
    assert "low.upward -> high.views (low/upward.py:3, inside a function)" in cycles[0]
    assert "high.views -> low.base (high/views.py:2)" in cycles[0]

    assert any(p.startswith("extra/ is a package outside") for p in problems), text
    assert not any(p.startswith("tests/") for p in problems), text
    assert "low is in more than one layer" in text


def test_from_package_import_submodule_names_the_submodule(tmp_path):
    write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/checks.py": "",
        "pkg/apps.py": """
            def ready():
                from pkg import checks, CONSTANT  # noqa
                from .checks import something  # noqa
            """,
    })
    pairs = {(i.module, i.imported, i.lazy) for i in collect(tmp_path, ["pkg"])}
    assert pairs == {("pkg.apps", "pkg.checks", True), ("pkg.apps", "pkg", True)}


def test_a_clean_tree_passes(tmp_path):
    write_tree(tmp_path, {k: v for k, v in TREE.items()
                          if k not in ("low/upward.py", "extra/__init__.py")})
    assert check(tmp_path, ["low", "high"], ["high", "low"],
                 {("low.apps", "low.store"): "AppConfig.ready"}) == []


def test_the_checkout_passes_and_every_allowed_lazy_import_says_why():
    pyproject = ROOT / "pyproject.toml"
    assert check(ROOT, root_packages(pyproject), layered_packages(pyproject)) == []
    assert all(reason.strip() for reason in ALLOWED.values())
    assert lazy_imports.main() == 0


def test_lint_imports_counts_imports_inside_functions(tmp_path):
    """grimp (under lint-imports) reads every import statement, not only module-level ones:
    an upward import hidden in a method breaks the layers contract."""
    write_tree(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": """
            class Thing:
                def method(self):
                    import high.b
                    return high.b
            """,
        "high/__init__.py": "",
        "high/b.py": "",
        ".importlinter": """
            [importlinter]
            root_packages =
                low
                high

            [importlinter:contract:layers]
            name = high above low
            type = layers
            layers =
                high
                low
            """,
    })
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(lint_imports), "--no-cache", "--no-logo"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "low.a -> high.b (l.4)" in run.stdout

    (tmp_path / "low/a.py").write_text("")
    run = subprocess.run([str(lint_imports), "--no-cache", "--no-logo"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_test_module_imports_another_test_module_or_a_conftest():
    """Helpers shared between suites live in tests/support/; importing a test module runs
    (and re-collects) its tests, and a conftest's fixtures belong to its directory."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent
    pattern = re.compile(r"^\s*(?:from|import)\s+tests\.(?:[\w.]+\.)?(?:test_\w+|conftest)\b",
                         re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []
