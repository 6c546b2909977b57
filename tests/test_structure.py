"""The house: one engine, no import cycle, no layer-type switch outside layers.py, no reaching into
a Network's private members from other modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "glassnet"
MODULES = {".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in SRC.rglob("*.py")}


def module_imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports when it is imported (module level, not TYPE_CHECKING),
    parent packages included (importing a.b.c runs a.b first)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        elif node.module and node.module.startswith("glassnet"):
            target = node.module
        else:
            continue
        for candidate in [target] + [f"{target}.{alias.name}" for alias in node.names]:
            if candidate in MODULES:
                parts = candidate.split(".")
                found |= {".".join(parts[:k]) for k in range(2, len(parts) + 1)} & set(MODULES)
    return {m for m in found if m != name and not name.startswith(m + ".")}


def test_no_import_cycle():
    graph = {name: module_imports(name, path) for name, path in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(stack + [nxt])
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_one_engine_no_fast_path():
    assert not (SRC / "fastpath.py").exists()
    for path in SRC.rglob("*.py"):
        assert "fastpath" not in path.read_text(), path


def test_no_layer_type_switch_outside_layers():
    switch = re.compile(r"isinstance\([^)]*\b(Dense|Residual|Dropout)\b|type\(\w+\) is (Dense|"
                        r"Residual|Dropout)\b")
    offenders = [f"{path.relative_to(SRC)}:{i}" for path in SRC.rglob("*.py")
                 if path.name != "layers.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1) if switch.search(line)]
    assert not offenders, offenders


def test_no_private_network_members_used_elsewhere():
    private = re.compile(r"\b(net|network|net64|self\.net|self\.network_)\._[a-z]\w*")
    offenders = [f"{path.relative_to(SRC)}:{i}: {line.strip()}" for path in SRC.rglob("*.py")
                 if path.name != "network.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if private.search(line)]
    assert not offenders, offenders
