"""The import graph runs one way: core <- {sim, firmware_bridge} <- evolve <- CLI (issue 12).

Walks the AST of every module of the four packages and collects every import statement, at module
level or inside a function (lazy imports count), plus `importlib.import_module("...")` calls with a
literal name. Layers, lowest first:

0. the core: `snnctl`, except its command line;
1. `sim` and `firmware_bridge`, side by side (neither imports the other);
2. `evolve`;
3. the command line: `snnctl.cli` (and `snnctl/__main__.py`, which only calls it).

A module may import its own package and any lower layer, nothing else. The exceptions left are in
`ALLOWED`, each naming the issue-12 item that removes it; an entry that is no longer needed fails
the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("snnctl", "sim", "firmware_bridge", "evolve")

# (importing module, imported module or package) -> why it is still there and what removes it.
ALLOWED: dict[tuple[str, str], str] = {}


def layer(module: str) -> tuple[int, str] | None:
    """(layer, package) of a module of ours, None for anything else (stdlib, numpy, ...)."""
    top = module.split(".")[0]
    if top == "snnctl":
        if module == "snnctl.cli" or module.startswith("snnctl.cli.") or module == "snnctl.__main__":
            return 3, "snnctl.cli"
        return 0, "snnctl"
    return {"sim": (1, "sim"), "firmware_bridge": (1, "firmware_bridge"), "evolve": (2, "evolve")}.get(top)


def allowed_direction(src: str, dst: str) -> bool:
    (ls, ps), (ld, pd) = layer(src), layer(dst)
    return ps == pd or ld < ls


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, lazy ones included.

    `from a.b import c` yields `a.b` and `a.b.c` (c may be a submodule: `from snnctl import cli`).
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names if a.name != "*"]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def all_imports() -> list[tuple[str, int, str]]:
    """(importing module, line, imported module) for every import of ours in the four packages."""
    edges = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            src = module_name(path)
            edges += [(src, line, dst) for line, dst in imports_of(path) if layer(dst) is not None]
    return edges


def _allowance(src: str, dst: str) -> tuple[str, str] | None:
    for a_src, a_dst in ALLOWED:
        if src == a_src and (dst == a_dst or dst.startswith(a_dst + ".")):
            return a_src, a_dst
    return None


def test_the_walk_sees_module_level_and_lazy_imports() -> None:
    """The walker is not vacuous: it finds a module-level import and one inside a function."""
    edges = {(src, dst) for src, _line, dst in all_imports()}
    assert ("snnctl.cli", "snnctl.cli.common") in edges  # module level
    assert ("snnctl.cli.bench", "evolve.bench_loop") in edges  # inside a handler
    assert ("snnctl.cli.inspect", "firmware_bridge.memory") in edges  # inside a function
    assert ("firmware_bridge.c_header", "snnctl.snnfile") in edges
    assert {src.split(".")[0] for src, _line, _dst in all_imports()} == set(PACKAGES)


def test_no_import_runs_against_the_layers() -> None:
    wrong = [
        f"{src}:{line} imports {dst}"
        for src, line, dst in all_imports()
        if not allowed_direction(src, dst) and _allowance(src, dst) is None
    ]
    assert not wrong, "imports against core <- {sim, firmware_bridge} <- evolve <- CLI:\n" + "\n".join(wrong)


def test_every_allowed_exception_is_still_needed() -> None:
    used = {_allowance(src, dst) for src, _line, dst in all_imports() if not allowed_direction(src, dst)}
    stale = [f"{src} -> {dst} ({why})" for (src, dst), why in ALLOWED.items() if (src, dst) not in used]
    assert not stale, "ALLOWED entries no longer needed; delete them:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    ("src", "dst", "ok"),
    [
        ("snnctl.runtime", "sim.loop", False),
        ("snnctl.runtime", "snnctl.cli.common", False),
        ("snnctl.cli.bench", "evolve.multiseed", True),
        ("sim.loop", "firmware_bridge.device", False),
        ("firmware_bridge.device", "snnctl.snnfile", True),
        ("evolve.blimp", "sim.blimp", True),
        ("evolve.har", "firmware_bridge.device", True),
        ("sim.loop", "evolve.blimp", False),
        ("evolve.blimp_experiment", "snnctl.cli.common", False),
        ("snnctl.__main__", "snnctl.cli", True),
    ],
)
def test_the_layer_rule(src: str, dst: str, ok: bool) -> None:
    assert allowed_direction(src, dst) is ok
