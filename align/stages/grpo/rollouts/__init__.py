"""Where GRPO's completions come from: one TRL `rollout_func` per way of sampling, all in this package.

- `engine`: align's in-process vLLM engine serving the adapter being trained (adapter-only sync, new LoRA id per step).
- `server`: a separate vLLM server, the same adapter-only sync over its OpenAI-compatible API.
- `merged`: no vLLM: align's decoder samples from a merged copy of the policy, re-synced every optimiser step.
- `record`: what every rollout records for the manifest (syncs, their cost, sampling speed).
- `build`: picks one of them for a stage (or none: TRL generates itself) and reads back its metrics.
"""
