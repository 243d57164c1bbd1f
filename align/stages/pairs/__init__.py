"""Pair building (`align.stages.pairs.stage`): sample k answers per prompt, verify them, pick chosen/rejected."""

from align.stages.pairs.stage import run

__all__ = ["run"]
