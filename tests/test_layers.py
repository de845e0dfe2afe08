"""Layers only point down: no module of `src/ragft` imports from a layer above its own.

Every `import` counts, wherever it is written (module top, inside a function, under
`TYPE_CHECKING`): a late import hides a cycle from Python, not from the design. A module's layer
is the layer of its top-level part (`ragft.synth.raft` -> `synth`).

Run as a script to list the upward imports of any tree (e.g. an old commit checked out in /tmp):
    python tests/test_layers.py /tmp/old/src/ragft
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "ragft"

# Bottom -> top. A module may import from any layer below its own. Placement notes:
# - "ragft" is the package root (`__version__`); "sample" is packaged data and imports nothing.
# - "workspace" opens a corpus store and the config, and synth, train and systems open workspaces:
#   it sits above corpus/models and below everything that works on a workspace.
# - "arms" is the arm registry: it builds systems (and knows trained arms), and evaluation,
#   reports, serving and the CLI read arm facts from it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ragft", "types", "errors", "config", "text", "prompts", "files", "sample"),
    ("corpus", "models"),
    ("workspace",),
    ("retrieval", "synth"),
    ("train", "systems"),
    ("arms",),
    ("evaluate",),
    ("report",),
    ("serve", "jobs"),
    ("cli",),
    ("__main__",),  # `python -m ragft` runs the CLI
)

# Imports between two parts of the same layer are forbidden unless declared here, one way only
# (the test also checks that these declared edges form no cycle), so a layer never hides a loop.
SAME_LAYER_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("config", "errors"),  # settings raise ConfigError, a RagftError
        ("prompts", "types"),  # prompts are built from Hits and are ChatMessages
        ("synth", "retrieval"),  # RAFT picks distractor passages with BM25
        ("systems", "train"),  # the fine-tuned systems load adapters by the names training writes
    }
)

_RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path, root: Path) -> str:
    """`ragft.synth.raft` for `<root>/synth/raft.py`, `ragft.synth` for its `__init__.py`."""
    parts = (root.name, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str, root: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth of the syntax tree, relative imports resolved;
    `from ragft.x import y` names `ragft.x.y` when `y` is a submodule in `root`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            origin = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                yield f"{origin}.{alias.name}" if _is_module(f"{origin}.{alias.name}", root) else origin


def _is_module(name: str, root: Path) -> bool:
    pieces = name.split(".")
    if pieces[0] != root.name:
        return False
    path = root.joinpath(*pieces[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def part_of(module: str) -> str:
    """The top-level part that decides a module's layer: `ragft.synth.raft` -> `synth`."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def layer_violations(root: Path = SOURCE) -> list[str]:
    """`module -> imported (layer a -> layer b)` for every import that does not point down."""
    found = set()
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        source = part_of(module)
        for imported in imported_modules(path, module, root):
            if imported.split(".")[0] != root.name:
                continue
            target = part_of(imported)
            if source == target:
                continue
            for part in (source, target):
                if part not in _RANK:
                    raise AssertionError(f"{path}: {part!r} is in no layer; add it to LAYERS in {__file__}")
            a, b = _RANK[source], _RANK[target]
            if b > a or (a == b and (source, target) not in SAME_LAYER_ALLOWED):
                found.add(f"{module} -> {imported} (layer {a} {source} -> layer {b} {target})")
    return sorted(found)


def test_no_module_imports_from_a_higher_layer() -> None:
    violations = layer_violations()
    assert not violations, "upward imports (move the shared thing down, or pass it in from the caller):\n" + "\n".join(violations)


def test_same_layer_allowances_are_one_way_and_acyclic() -> None:
    for a, b in SAME_LAYER_ALLOWED:
        assert _RANK[a] == _RANK[b], f"{a} -> {b} crosses layers; only same-layer edges belong in SAME_LAYER_ALLOWED"
    graph: dict[str, set[str]] = {}
    for a, b in SAME_LAYER_ALLOWED:
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    cycles = sorted(a for a in graph if reaches(a, a, {a}))
    assert not cycles, f"SAME_LAYER_ALLOWED has a cycle through {cycles}"


def test_the_checker_sees_late_relative_and_same_layer_imports(tmp_path: Path) -> None:
    root = tmp_path / "ragft"
    for package in ("synth", "corpus", "models"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "synth" / "a.py").write_text("def f():\n    from ragft.evaluate.metrics import x\n    from ..text import y\n")
    (root / "corpus" / "b.py").write_text("from ragft import models\nfrom ragft.types import Chunk\n")
    (root / "models" / "c.py").write_text("from . import base\nfrom ragft.errors import RagftError\n")
    assert layer_violations(root) == [
        "ragft.corpus.b -> ragft.models (layer 1 corpus -> layer 1 models)",
        "ragft.synth.a -> ragft.evaluate.metrics (layer 3 synth -> layer 6 evaluate)",
    ]


def main(argv: list[str]) -> int:
    """Print the upward imports of a tree and their count (default: this checkout's src/ragft)."""
    root = Path(argv[1]) if len(argv) > 1 else SOURCE
    violations = layer_violations(root)
    print("\n".join(violations))
    print(f"{len(violations)} upward import(s) in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
