"""One sampler for all the policies of a target: the base weights load once, adapters are swapped in."""

from __future__ import annotations

from pathlib import Path

from align.evaluation.targets import Policy
from align.generation.backend import BackendName, Sampler, make_sampler
from align.runtime.context import resolve_precision


class PolicySamplers:
    def __init__(self, backend: BackendName) -> None:
        self.backend = backend
        self.sampler: Sampler | None = None
        self.location: str | None = None
        self.adapter: Path | None = None

    def get(self, policy: Policy) -> Sampler:
        if self.sampler is None or policy.location != self.location:
            precision = resolve_precision("auto")
            self.sampler = make_sampler(
                self.backend, policy.location, precision, adapter=policy.adapter, lora_rank=policy.lora_rank
            )
        elif policy.adapter != self.adapter:
            self.sampler.set_adapter(policy.adapter)
        self.location, self.adapter = policy.location, policy.adapter
        return self.sampler
