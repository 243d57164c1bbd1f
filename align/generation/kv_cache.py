"""A dynamic KV cache that reserves room for the tokens still to come: what align's sampling loop decodes with.

transformers' DynamicLayer appends each decoded token with `torch.cat`, which copies the whole cache of every
layer at every step; on a CPU that copy was ~8 % of pair building (SmolLM2-135M, 64 sequences, 64 tokens). Here
a layer writes new tokens into a buffer with room for `reserve` more and hands attention a view of the filled
part. Whatever replaces the tensors (dropping finished rows, repeating a prompt's cache for its samples) leaves
them outside the buffer; the next append then moves them into a new one, once.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class ReservedLayer(DynamicLayer):
    def __init__(self, reserve: int):
        super().__init__()
        self.reserve = reserve
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        if not self._writable(end, key_states):
            shape = list(key_states.shape)
            # Room for every token still to come: the cache moves into a new buffer only after something replaced
            # its tensors (repeating a prompt's rows, dropping finished ones), never once per decoded token.
            shape[-2] = end + self.reserve
            keys, values = key_states.new_empty(shape), value_states.new_empty(shape)
            if length and self.keys is not None and self.values is not None:
                keys[..., :length, :] = self.keys
                values[..., :length, :] = self.values
            self.buffers = (keys, values)
        assert self.buffers is not None
        keys, values = self.buffers
        keys[..., length:end, :] = key_states
        values[..., length:end, :] = value_states
        self.keys, self.values = keys[..., :end, :], values[..., :end, :]
        return self.keys, self.values

    def _writable(self, end: int, key_states: torch.Tensor) -> bool:
        """The current keys are the start of our buffer (nothing replaced them) and `end` tokens fit in it."""
        if self.buffers is None or self.keys is None or self.keys.numel() == 0:
            return False
        buffer = self.buffers[0]
        # DynamicLayer's batch_select_indices / batch_repeat_interleave assign new tensors (indexing copies), so
        # the keys no longer view our buffer; writing into it then would write where attention never reads.
        return (
            self.keys.data_ptr() == buffer.data_ptr()
            and self.keys.shape[0] == buffer.shape[0] == key_states.shape[0]
            and end <= buffer.shape[-2]
        )


def reserved_cache(config, reserve: int) -> DynamicCache:
    """A DynamicCache whose full-attention layers reserve room for `reserve` more tokens (sliding-window layers,
    which drop old tokens, stay transformers' own)."""
    cache = DynamicCache(config=config)
    # `type(...) is`, not isinstance: the sliding-window and indexed layers subclass DynamicLayer but keep their
    # own update rules, which ReservedLayer's update would replace.
    cache.layers = [ReservedLayer(reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def reserve(cache: DynamicCache, tokens: int) -> None:
    """Room the next rebuilt buffer keeps for tokens still to come (the decoder lowers it as it goes), and let go
    of buffers the cache no longer uses (rows were dropped or repeated, so the tensors live elsewhere now)."""
    for layer in cache.layers:
        if isinstance(layer, ReservedLayer):
            layer.reserve = tokens
            # A buffer the keys no longer view is the old batch's whole cache, held until the next append
            # otherwise: after a row drop, up to twice the cache's memory for nothing.
            if (
                layer.buffers is not None
                and layer.keys is not None
                and layer.keys.data_ptr() != layer.buffers[0].data_ptr()
            ):
                layer.buffers = None
