"""The parts form a DAG (docs/ARCHITECTURE.md): every import between hwadapt modules,
module-level or inside a function, goes to the same layer or a lower one, and the modules
import each other without cycles. A new module must be given a layer in ``LAYERS``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hwadapt"

LAYERS = {  # module prefix -> layer (longest prefix wins); docs/ARCHITECTURE.md explains them
    "hwadapt": 0,  # the package itself (__version__)
    "hwadapt.errors": 0, "hwadapt.env": 0, "hwadapt.threads": 0, "hwadapt.progress": 0,
    "hwadapt.fileio": 0, "hwadapt.arrays": 0, "hwadapt.counts": 0, "hwadapt.trace": 0,
    "hwadapt.training.data": 0,  # MNIST loading: a leaf data module
    "hwadapt.linalg": 1, "hwadapt.kernels": 1,
    "hwadapt.circuits": 2, "hwadapt.simulate": 2,
    "hwadapt.mitigation.calibration": 2,  # calibration inputs: unit vectors (numpy only)
    "hwadapt.mitigation.zne": 2,  # two-qubit-gate folding and extrapolation (qiskit, numpy)
    "hwadapt.adapters": 3,
    "hwadapt.backends": 4, "hwadapt.execution": 4, "hwadapt.spec": 4, "hwadapt.executors": 4,
    "hwadapt.estimate": 5, "hwadapt.mitigation": 5, "hwadapt.compare": 5,
    "hwadapt.downstream": 5, "hwadapt.sweep": 5, "hwadapt.expectations": 5,
    "hwadapt.training": 6, "hwadapt.quantum": 6,
    "hwadapt.cli": 7, "hwadapt.__main__": 7,  # `python -m hwadapt`
}
NAMES = {0: "base", 1: "maths", 2: "circuits", 3: "adapters", 4: "execution",
         5: "analysis", 6: "training", 7: "CLI"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = ("hwadapt", *p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The hwadapt module an import names (``from pkg import sub`` names ``pkg.sub``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str, path: Path) -> set[str]:
    """hwadapt modules ``mod`` imports anywhere in its file (functions included)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for n in names:
            target = _resolve(n) if n.startswith("hwadapt") else None
            if target and target != mod:
                out.add(target)
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def layer(mod: str) -> int:
    best = max((p for p in LAYERS if mod == p or mod.startswith(p + ".")), key=len,
               default=None)
    if best is None:
        raise AssertionError(f"{mod} has no layer: add it to LAYERS in {__file__}")
    return LAYERS[best]


def test_every_module_has_a_layer():
    for mod in MODULES:
        layer(mod)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_point_down(mod):
    up = [f"{t} ({NAMES[layer(t)]})" for t in sorted(GRAPH[mod]) if layer(t) > layer(mod)]
    assert not up, f"{mod} ({NAMES[layer(mod)]}) imports a part above it: {up}"


def _package_of(mod: str) -> str:
    return mod.rpartition(".")[0]


def test_no_import_cycles():
    """No cycle among modules; a package's ``__init__`` re-exporting its own submodules is not
    an edge back (``pkg.sub -> pkg`` where ``pkg`` re-exports ``sub`` is one module)."""
    def edges(m: str) -> set[str]:
        return {t for t in GRAPH[m] if not (MODULES[t].name == "__init__.py"
                                             and m.startswith(t + "."))}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges(m)):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)


def test_the_check_catches_a_back_edge(tmp_path):
    """The resolver sees lazy imports and relative imports (the rule could otherwise pass by
    not looking)."""
    p = tmp_path / "mod.py"
    p.write_text("def f():\n    from hwadapt.cli import main\n    from ..compare import x\n")
    got = _imports("hwadapt.circuits.mod", p)
    assert {"hwadapt.cli", "hwadapt.compare"} <= got
    assert layer("hwadapt.cli") > layer("hwadapt.circuits.mod")
