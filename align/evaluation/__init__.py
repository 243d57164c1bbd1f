"""Evaluation: math accuracy, HumanEval pass@k in the sandbox, six-dimension reward means on chat prompts —
for a model, one stage's adapter, or every stage of a run. Entry points: `evaluate(...)` and `align eval`."""

from align.evaluation.evaluator import evaluate

__all__ = ["evaluate"]
