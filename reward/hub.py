"""The "hub" reward source: any `AutoModelForSequenceClassification` reward model, by hub name or folder.

A one-score model (num_labels = 1) serves one dimension. A multi-objective one (ArmoRM-style: one output per
attribute) serves several: each recipe reward names the output it reads, by index or by the label name in the
model's `config.id2label`, e.g.

    rewards:
      helpfulness:  {source: hub, model: my-org/multi-rm, output: helpsteer-helpfulness}
      truthfulness: {source: hub, model: my-org/multi-rm, output: 2}

Every dimension naming the same model shares one loaded copy and one forward pass per batch. The (prompt,
completion) pair is shown to the model through its tokenizer's chat template when it has one (how reward models
on the hub are trained), else as a text pair. Scores are the raw logits: their scale is the model's, so weights
in the recipe are what puts them beside align's [0, 1] rewards.
Models whose scores come from custom code (`trust_remote_code`) rather than `logits` are not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reward.dimensions import Dimension, Text, completion_text, prompt_text
from reward.result import Verdict


class HubRewardModel:
    """A loaded sequence classifier; remembers the last batch so that several dimensions cost one pass."""

    def __init__(self, location: str, device: str = "cpu", batch_size: int = 8) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = location
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForSequenceClassification.from_pretrained(location, dtype=dtype).eval()
        torch.nn.Module.to(self.model, device)  # in place; the bound `.to` is typed for dtypes and strings only
        if self.model.config.pad_token_id is None:  # the classifier reads the last non-pad token of each row
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.labels = [str(self.model.config.id2label.get(i, i)) for i in range(self.model.config.num_labels)]
        self.forward_passes = 0
        self._key: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._scores: list[list[float]] = []
        self.cut: list[bool] = []  # per row of the last batch scored: cut to the tokenizer's model_max_length

    def output_index(self, output: int | str | None) -> int:
        """The column a dimension reads: an index, or a label name from the model's config."""
        if output is None:
            if len(self.labels) != 1:
                raise ValueError(f"{self.name} has {len(self.labels)} outputs ({', '.join(self.labels)}); set `output`")
            return 0
        if isinstance(output, int):
            if not 0 <= output < len(self.labels):
                raise ValueError(f"{self.name} has outputs 0..{len(self.labels) - 1}; got output {output}")
            return output
        if output not in self.labels:
            raise ValueError(f"{self.name} has no output {output!r}; its outputs: {', '.join(self.labels)}")
        return self.labels.index(output)

    def _encode(self, prompts: Sequence[str], completions: Sequence[str]) -> tuple[Any, list[bool]]:
        """The BatchEncoding, and which rows it cut to model_max_length (the tokenizer cuts without a word)."""
        if self.tokenizer.chat_template:
            texts = [
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}, {"role": "assistant", "content": c}], tokenize=False
                )
                for p, c in zip(prompts, completions, strict=True)
            ]
            args: tuple[Any, ...] = (texts,)
            options = {"add_special_tokens": False}
        else:
            args, options = (list(prompts), list(completions)), {}
        lengths = [len(ids) for ids in self.tokenizer(*args, truncation=False, **options)["input_ids"]]
        batch = self.tokenizer(*args, padding=True, truncation=True, return_tensors="pt", **options)
        return batch, [n > batch["input_ids"].shape[1] for n in lengths]

    def scores(self, prompts: Sequence[str], completions: Sequence[str]) -> list[list[float]]:
        """All outputs for every row: [row][output]."""
        import torch

        key = (tuple(prompts), tuple(completions))
        if key == self._key:
            return self._scores
        out: list[list[float]] = []
        cut: list[bool] = []
        with torch.no_grad():
            for start in range(0, len(prompts), self.batch_size):
                stop = start + self.batch_size
                batch, batch_cut = self._encode(prompts[start:stop], completions[start:stop])
                out.extend(self.model(**batch.to(self.device)).logits.float().cpu().tolist())
                cut.extend(batch_cut)
        self._key, self._scores, self.cut = key, out, cut
        self.forward_passes += 1
        return out


class HubDimension(Dimension):
    """One output of a hub reward model."""

    def __init__(self, name: str, model: HubRewardModel, output: int | str | None) -> None:
        super().__init__(name)
        self.model = model
        self.index = model.output_index(output)

    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        rows = self.model.scores([prompt_text(p) for p in prompts], [completion_text(c) for c in completions])
        reason = f"{self.model.name} output {self.model.labels[self.index]}"
        # A cut row was scored on part of its text: the score stands, flagged, so the manifest counts it.
        return [
            Verdict(row[self.index], reason, ("truncated",) if cut else ())
            for row, cut in zip(rows, self.model.cut, strict=True)
        ]


def build_hub(named: Sequence[tuple[str, Any]], inputs: Any) -> dict[str, Dimension]:
    """The `SOURCES["hub"]` builder: one loaded model per distinct `model`, one dimension per spec."""
    models: dict[str, HubRewardModel] = {}
    built: dict[str, Dimension] = {}
    for name, spec in named:
        if not spec.model:
            raise ValueError(f"reward {name!r}: source 'hub' needs `model` (a hub name or folder)")
        location = inputs.resolve_model(spec.model)
        if location not in models:
            models[location] = HubRewardModel(location, device=inputs.device)
        try:
            built[name] = HubDimension(name, models[location], spec.output)
        except ValueError as err:
            raise ValueError(f"reward {name!r}: {err}") from None
    return built
