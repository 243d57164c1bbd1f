"""The package boundaries the README's module map states, checked on the source: align imports only reward's
top level, reward never imports align, and no stage kind imports another."""

from __future__ import annotations

import ast
from pathlib import Path

from align.stages import RUNNERS

ROOT = Path(__file__).resolve().parents[1]
STAGE_KINDS = ("sft", "pairs", "dpo", "reward", "grpo")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_align_imports_only_the_top_level_of_reward():
    deep = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources("align")
        for name in imported_modules(path)
        if name.startswith("reward.")
    }
    assert deep == set()


def test_reward_never_imports_align():
    back = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources("reward")
        for name in imported_modules(path)
        if name == "align" or name.startswith("align.")
    }
    assert back == set()


def test_no_stage_imports_another_stage():
    assert set(RUNNERS) == set(STAGE_KINDS)
    crossings = set()
    for kind in STAGE_KINDS:
        # The reward-model stage lives in `reward_model.py` (not `reward.py`, beside the `reward` package): the
        # registry, not the kind, names each stage's module.
        package = ROOT.joinpath(*RUNNERS[kind].split("."))
        files = sorted(package.rglob("*.py")) if package.is_dir() else [package.with_suffix(".py")]
        assert files and all(f.is_file() for f in files), kind
        for path in files:
            for name in imported_modules(path):
                other = next((k for k in STAGE_KINDS if k != kind and name.startswith(RUNNERS[k])), None)
                if other:
                    crossings.add(f"{path.relative_to(ROOT)}: {name}")
    assert crossings == set()


def align_module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each align module -> the align modules it imports anywhere in it (module level or inside a function)."""
    modules = {align_module(path) for path in sources("align")}

    def module_of(name: str) -> str:  # `from align.x import y` imports module align.x.y when y is one
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for path in sources("align"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
        own = {module_of(n) for n in names if n == "align" or n.startswith("align.")}
        graph[align_module(path)] = own - {align_module(path)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each cycle once: from its smallest module, through larger ones only, back to it."""
    found = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    found.append(" -> ".join([*trail, start]))
                elif nxt > start and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return found


def test_no_import_cycle_among_align_modules():
    # Function-level imports count too: one that only dodges a cycle at import time still ties the modules together.
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    graph = {"align.a": {"align.b"}, "align.b": {"align.c"}, "align.c": {"align.a"}, "align.d": {"align.a"}}
    assert cycles(graph) == ["align.a -> align.b -> align.c -> align.a"]
