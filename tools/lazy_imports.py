"""Lazy project imports and package cycles: the half of the layering that lint-imports leaves.

``lint-imports`` (the contract in pyproject.toml) checks the direction of every import,
function-level ones included. This checker adds three rules, from the source with ``ast``:

1. **No project import inside a function or method** unless the pair (importing module,
   imported module) is in ``ALLOWED`` with the reason it has to be lazy. A lazy import hides a
   dependency from whoever reads the top of the module, fails only when the function runs, and
   is the usual way a cycle gets papered over. Stale entries (the import is gone) fail too.
2. **No cycle between packages** in the package graph built from *every* import, module-level
   and function-level alike.
3. **Every top-level package is in the contract**: in ``[tool.importlinter] root_packages``
   and in one layer of the ``layers`` contract. A new package would otherwise sit outside the
   layers unchecked (import-linter's ``exhaustive`` needs ``containers``, which a flat layout of
   top-level packages has none of). ``tests``, ``bench`` and ``tools`` are not subject to it.

Migrations are skipped (they import models and data loaders of their own app by design).

    python -m tools.lazy_imports        # from the checkout; exit status 1 on any finding
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top-level packages that are not part of the layered application.
NOT_LAYERED = frozenset({"tests", "bench", "tools", "sim"})

# (importing module, imported module) -> why the import must stay inside a function.
ALLOWED: dict[tuple[str, str], str] = {
    ("consult.apps", "consult.signals"):
        "AppConfig.ready connects the signal receivers; consult.signals imports models, "
        "which Django allows only once the app registry is ready",
    ("crypto.apps", "crypto.rotation"):
        "AppConfig.ready registers the built-in rotation steps; crypto.rotation imports models, "
        "which Django allows only once the app registry is ready",
    ("gateway.apps", "gateway.checks"):
        "AppConfig.ready is Django's documented place to register system checks",
    ("physicians.apps", "physicians.signals"):
        "AppConfig.ready connects the signal handlers; physicians.signals imports models, "
        "which Django allows only once the app registry is ready",
    ("presence.store", "presence.store_redis"):
        "presence_store_from_url loads the Redis store only when REDIS_URL is set (redis-only "
        "code), and presence.store_redis imports presence.store",
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "rooms.messages"
    imported: str  # the imported module, e.g. "physicians.models"
    path: Path  # relative to the checkout
    lineno: int
    lazy: bool  # inside a function or method (at any depth)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.lineno}"


def _importlinter(pyproject: Path) -> dict:
    with pyproject.open("rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]


def root_packages(pyproject: Path) -> list[str]:
    """The packages of the import-linter contract."""
    return list(_importlinter(pyproject)["root_packages"])


def layered_packages(pyproject: Path) -> list[str]:
    """The packages named in the layers of the ``layers`` contract (with repeats, if any)."""
    names = []
    for contract in _importlinter(pyproject).get("contracts", []):
        if contract.get("type") == "layers":
            for layer in contract["layers"]:
                names += [n.strip(" ()") for n in layer.replace(":", "|").split("|")]
    return names


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def source_files(root: Path, packages: Iterable[str]) -> list[Path]:
    files = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.relative_to(root).parts:
                files.append(path)
    return files


def _resolve_base(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute module an ``ImportFrom`` names before ``import`` (relative ones too)."""
    if not node.level:
        return node.module
    parts = module.split(".") if is_package else module.split(".")[:-1]
    drop = node.level - 1
    if drop > len(parts) - 1:
        return None  # beyond the top-level package
    parts = parts[:len(parts) - drop]
    return ".".join(parts + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    def __init__(self, root: Path, path: Path, packages: frozenset[str]):
        self.root, self.path, self.packages = root, path, packages
        self.module = module_name(root, path)
        self.is_package = path.name == "__init__.py"
        self.depth = 0  # enclosing functions
        self.found: list[Import] = []

    def _ours(self, dotted: str | None) -> bool:
        return bool(dotted) and dotted.split(".")[0] in self.packages

    def _add(self, imported: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, imported, self.path.relative_to(self.root),
                                 node.lineno, self.depth > 0))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if self._ours(alias.name):
                self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve_base(self.module, self.is_package, node)
        if not self._ours(base):
            return
        for alias in node.names:
            # ``from gateway import checks`` imports the module gateway.checks.
            candidate = f"{base}.{alias.name}"
            self._add(candidate if alias.name != "*" and is_module(self.root, candidate) else base,
                      node)


def collect(root: Path, packages: Iterable[str]) -> list[Import]:
    """Every import of one of ``packages`` made by a module of ``packages``."""
    packages = frozenset(packages)
    found: list[Import] = []
    for path in source_files(root, packages):
        collector = _Collector(root, path, packages)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found.extend(collector.found)
    return found


def lazy_import_problems(imports: Iterable[Import],
                         allowed: Mapping[tuple[str, str], str]) -> list[str]:
    problems, seen = [], set()
    for imp in imports:
        if not imp.lazy:
            continue
        pair = (imp.module, imp.imported)
        seen.add(pair)
        if pair not in allowed:
            problems.append(f"{imp.where}: {imp.module} imports {imp.imported} inside a function; "
                            "import it at the top of the module, or list the pair in "
                            "tools/lazy_imports.py ALLOWED with the reason it must be lazy")
    for pair, reason in allowed.items():
        if not (isinstance(reason, str) and reason.strip()):
            problems.append(f"ALLOWED {pair[0]} -> {pair[1]}: give the reason it must be lazy")
        if pair not in seen:
            problems.append(f"ALLOWED {pair[0]} -> {pair[1]}: no such import inside a function "
                            "any more; remove the entry")
    return problems


def package_graph(imports: Iterable[Import]) -> dict[str, dict[str, Import]]:
    """package -> {imported package: one import that makes the edge}; self-edges dropped."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        src, dst = imp.module.split(".")[0], imp.imported.split(".")[0]
        graph.setdefault(src, {})
        graph.setdefault(dst, {})
        if src != dst:
            graph[src].setdefault(dst, imp)
    return graph


def package_cycles(graph: Mapping[str, Mapping[str, Import]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def cycle_problems(imports: Iterable[Import]) -> list[str]:
    graph = package_graph(imports)
    problems = []
    for component in package_cycles(graph):
        edges = [graph[a][b] for a in component for b in sorted(graph[a]) if b in component]
        detail = "; ".join(f"{e.module} -> {e.imported} ({e.where}"
                           f"{', inside a function' if e.lazy else ''})" for e in edges)
        problems.append(f"import cycle between packages {', '.join(component)}: {detail}")
    return problems


def unlisted_packages(root: Path, packages: Iterable[str], layered: Iterable[str]) -> list[str]:
    listed, layered = set(packages), list(layered)
    problems = [f"{p.parent.name}/ is a package outside the import-linter contract: add it to "
                "[tool.importlinter] root_packages and to a layer in pyproject.toml"
                for p in sorted(root.glob("*/__init__.py"))
                if p.parent.name not in listed and p.parent.name not in NOT_LAYERED]
    problems += [f"{name} is in root_packages but in no layer of the layers contract"
                 for name in sorted(listed - set(layered))]
    problems += [f"{name} is in more than one layer of the layers contract"
                 for name in sorted({n for n in layered if layered.count(n) > 1})]
    return problems


def check(root: Path, packages: Iterable[str], layered: Iterable[str],
          allowed: Mapping[tuple[str, str], str] = ALLOWED) -> list[str]:
    packages = list(packages)
    imports = collect(root, packages)
    return (lazy_import_problems(imports, allowed) + cycle_problems(imports)
            + unlisted_packages(root, packages, layered))


def main() -> int:
    pyproject = ROOT / "pyproject.toml"
    packages = root_packages(pyproject)
    problems = check(ROOT, packages, layered_packages(pyproject))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"lazy imports: {len(ALLOWED)} allowed, none other; no cycle between "
          f"{len(packages)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
