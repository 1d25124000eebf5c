"""The codebase's shape, checked: module sizes, private names, import cycles, the core's own
dependencies (issue 14). These are properties of the source text, read with ``ast``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "gpuhash": ROOT / "gpuhash",
    "gpuhash_conformance": ROOT / "conformance" / "gpuhash_conformance",
    "gpuhash_opencl": ROOT / "backends" / "opencl" / "gpuhash_opencl",
    "gpuhash_intel": ROOT / "backends" / "intel" / "gpuhash_intel",
    "gpuhash_cuda": ROOT / "backends" / "cuda" / "gpuhash_cuda",
    "gpuhash_example": ROOT / "backends" / "example" / "gpuhash_example",
}
#: The one-file reference is readable top to bottom on purpose (spec section 0); generated
#: protobuf modules are not written by hand.
EXEMPT_FROM_SIZE = {"gpuhash.reference"}
MAX_LINES = 500


def _modules() -> Iterator[tuple[str, Path]]:
    for top, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [top, *rel.parts]
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name.startswith("gpuhash._proto"):
                continue
            yield name, path


MODULES = dict(_modules())


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> Iterator[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in ``name``, at any depth
    (function bodies and ``TYPE_CHECKING`` blocks included), relative imports resolved."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                yield base, alias.name, node.lineno


def _is_module(module: str, imported: str) -> bool:
    """Whether ``from module import imported`` imports a module (Python source or extension)."""
    if f"{module}.{imported}" in MODULES:
        return True
    if module not in MODULES or not _is_package(module):
        return False
    return any(MODULES[module].parent.glob(f"{imported}.*"))


def _target(module: str, imported: str | None) -> str | None:
    """The project module an import refers to (``from a import b`` may name module ``a.b``)."""
    if imported is not None and f"{module}.{imported}" in MODULES:
        return f"{module}.{imported}"
    return module if module in MODULES else None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name: str) -> None:
    if name in EXEMPT_FROM_SIZE:
        return
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by job (at most {MAX_LINES})"


def test_no_private_name_imported_across_modules() -> None:
    found = []
    for name in MODULES:
        for module, imported, line in _imports(name):
            if _target(module, imported) is None or module == name:
                continue
            if imported is None or _is_module(module, imported):
                continue  # a module, private or not, is imported as a whole
            if imported.startswith("_") and not imported.startswith("__"):
                found.append(f"{MODULES[name].relative_to(ROOT)}:{line}: {module}.{imported}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_no_private_attribute_of_another_module() -> None:
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for module, imported, _ in _imports(name):
            target = _target(module, imported)
            if target is not None and target != name:
                aliases[(imported or module).rpartition(".")[2]] = target
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                rel = path.relative_to(ROOT)
                found.append(f"{rel}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    assert not found, "private names used across modules:\n" + "\n".join(found)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for module, imported, _ in _imports(name):
            target = _target(module, imported)
            # A package's __init__ importing its own submodules is how packages are built.
            if target is None or target == name or target.startswith(name + "."):
                continue
            graph[name].add(target)
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_core_never_imports_its_test_suite_or_backends() -> None:
    found = []
    for name in MODULES:
        if not name.startswith("gpuhash.") and name != "gpuhash":
            continue
        for module, _, line in _imports(name):
            if module.split(".")[0] in PACKAGES and module.split(".")[0] != "gpuhash":
                found.append(f"{MODULES[name].relative_to(ROOT)}:{line}: imports {module}")
    assert not found, "\n".join(found)


def test_other_distributions_use_only_public_modules_of_the_core() -> None:
    """Backends and the conformance suite are separate distributions: they may break when the
    core reorganises its private modules, so they import none."""
    found = []
    for name in MODULES:
        if name.split(".")[0] == "gpuhash":
            continue
        for module, imported, line in _imports(name):
            target = _target(module, imported) or module
            parts = target.split(".")
            if parts[0] == "gpuhash" and any(
                p.startswith("_") and not p.startswith("__") for p in parts[1:]
            ):
                found.append(f"{MODULES[name].relative_to(ROOT)}:{line}: imports {target}")
    assert not found, "\n".join(found)
