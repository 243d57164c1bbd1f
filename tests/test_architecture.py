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
