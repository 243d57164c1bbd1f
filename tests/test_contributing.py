"""The verifier and reward-source examples in CONTRIBUTING.md work as written, registered the way it says."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import reward.sources
import reward.verifiers

GUIDE = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"


def example(first_line: str, name: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The guide's python block that starts with `first_line`, imported as module `name`."""
    blocks = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    source = next(b for b in blocks if b.startswith(first_line))
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, f"CONTRIBUTING.md:{first_line}", "exec"), module.__dict__)
    return module


def test_the_verifier_example_registers_and_decides(monkeypatch: pytest.MonkeyPatch):
    example("# reward/verifiers/exact.py", "contributing_exact", monkeypatch)
    line = re.search(r'^"exact": (Verifier\(.*\)),$', GUIDE.read_text(encoding="utf-8"), re.MULTILINE)
    assert line, "the registry line is missing from the guide"
    registered = eval(line.group(1).replace("reward.verifiers.exact", "contributing_exact"), vars(reward.verifiers))
    monkeypatch.setitem(reward.verifiers.VERIFIERS, "exact", registered)

    verifier = reward.verifiers.get_verifier("exact")
    verdicts = verifier.verify_batch(
        ["The sum is\n42", "The sum is\n41", "42"], [{"expected": "42"}, {"expected": "42"}, {"other": 1}]
    )
    assert [v.score for v in verdicts] == [1.0, 0.0, None]
    assert verifier.missing_columns(["prompt"]) == ["expected"]


@dataclass(frozen=True)
class Spec:  # what align's RewardSpec gives a source
    source: str
    weight: float = 1.0
    budget: int = 128


def test_the_reward_source_example_builds_reward_functions(monkeypatch: pytest.MonkeyPatch):
    module = example("# reward/format.py", "contributing_format", monkeypatch)
    monkeypatch.setitem(reward.sources.SOURCES, "format", module.build_format)

    rewards = reward.sources.build_rewards(
        {"helpfulness": Spec("format", 0.2), "conciseness": Spec("rule")}, reward.sources.SourceInputs()
    )
    helpfulness = next(r for r in rewards if r.name == "helpfulness")
    assert helpfulness.weight == 0.2
    assert helpfulness.function(prompts=["q", "q"], completions=["so \\boxed{4}", "it is 4"]) == [1.0, 0.0]
