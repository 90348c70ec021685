"""Packing several prefix-shared pairs into one row, measured against length-grouped batches.

A batch's pairs are laid out as ``prefix_sharing`` lays one out (prefix, chosen rest, rejected
rest, positions continuing from the prefix on both sides), then dealt first-fit, longest first,
into rows no longer than the batch's longest pair: short pairs share a row instead of padding
it. The mask is block-diagonal over the pairs of a row (a token sees only its own pair: the
prefix and its own side, causally) and positions restart at each pair, so every reward is the
two-sequence path's. Only ``rewardlab bench`` uses this: the issue asks to keep packing only if
it beats length grouping, and the bench is where that is measured (README, Throughput).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers.modeling_outputs import SequenceClassifierOutput
from trl import RewardTrainer

from rewardlab.model import prefix_sharing
from rewardlab.model.prefix_sharing import PAD, PREFIX

KEYS = ("input_ids", "position_ids", "segment_ids", "chosen_at", "rejected_at", "two_sequence")


def pack(lengths: list[int]) -> list[list[int]]:
    """Pair indices per row: first-fit decreasing into rows as long as the longest pair."""
    capacity = max(lengths, default=0)
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
        if row is None:
            rows.append([]), room.append(capacity)
            row = len(rows) - 1
        rows[row].append(i)
        room[row] -= lengths[i]
    return rows


def packed_batch(
    chosen: list[list[int]], rejected: list[list[int]], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """Rows of packed pairs; segment ``3k + s`` is side ``s`` of the row's k-th pair."""
    pairs = [
        prefix_sharing.layout(c, r, pad_token_id) for c, r in zip(chosen, rejected, strict=True)
    ]
    rows = pack([len(p.ids) for p in pairs])
    width = max(len(p.ids) for p in pairs)
    batch = {
        "input_ids": torch.full((len(rows), width), pad_token_id, dtype=torch.long),
        "position_ids": torch.zeros((len(rows), width), dtype=torch.long),
        "segment_ids": torch.full((len(rows), width), PAD, dtype=torch.long),
    }
    chosen_at, rejected_at = [(0, 0)] * len(pairs), [(0, 0)] * len(pairs)
    for row, members in enumerate(rows):
        start = 0
        for k, i in enumerate(members):
            p, stop = pairs[i], start + len(pairs[i].ids)
            batch["input_ids"][row, start:stop] = torch.tensor(p.ids)
            batch["position_ids"][row, start:stop] = torch.tensor(p.positions)
            batch["segment_ids"][row, start:stop] = torch.tensor(p.segments) + 3 * k
            chosen_at[i] = (row, start + p.chosen_index)
            rejected_at[i] = (row, start + p.rejected_index)
            start = stop
    batch["chosen_at"] = torch.tensor(chosen_at, dtype=torch.long)
    batch["rejected_at"] = torch.tensor(rejected_at, dtype=torch.long)
    longest = max(len(ids) for side in (chosen, rejected) for ids in side)
    batch["two_sequence"] = torch.tensor(2 * len(pairs) * longest)  # TRL's padded tokens
    return batch


def packed_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(rows, 1, query, key), boolean: causal, within one pair, the prefix or one's own side.

    Pads (segment -1) see the pads before them and themselves, so no row of the softmax is empty.
    """
    width = segment_ids.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=segment_ids.device).tril()
    pair = torch.div(segment_ids, 3, rounding_mode="floor")
    query, key = segment_ids[:, :, None], segment_ids[:, None, :]
    same_pair = pair[:, :, None] == pair[:, None, :]
    prefix = (key >= 0) & (key % 3 == PREFIX)
    return (causal & same_pair & ((key == query) | prefix))[:, None]


def packed_rewards(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(2 x pairs, 1): the chosen rewards, then the rejected ones, as TRL's loss reads them."""
    mask = packed_mask(batch["segment_ids"])
    config = prefix_sharing.model_config(model)
    if (getattr(config, "_attn_implementation", None) or "eager") != "sdpa":
        dtype = next(model.parameters()).dtype
        mask = torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
    scores = prefix_sharing.head_outputs(model, batch["input_ids"], mask, batch["position_ids"])
    at = torch.cat([batch["chosen_at"], batch["rejected_at"]])
    return scores[at[:, 0], at[:, 1]]


@dataclass
class PackingCollator:
    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        chosen = [e["chosen_ids"] for e in examples]
        rejected = [e["rejected_ids"] for e in examples]
        return packed_batch(chosen, rejected, self.pad_token_id)


class PackedRewardTrainer(RewardTrainer):
    """TRL's ``RewardTrainer`` on packed batches: the rewards as a two-sequence forward's
    logits, and TRL's own loss on them. ``sharing`` counts positions computed against two
    sequences per pair, as the prefix-sharing trainer does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sharing = {"batches": 0, "shared": 0, "tokens": 0, "two_sequence_tokens": 0}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        packed = {key: inputs.pop(key) for key in KEYS}
        inputs["attention_mask"] = packed["segment_ids"] >= 0
        if self.model.training:
            self.sharing["batches"] += 1
            self.sharing["shared"] += 1
            self.sharing["tokens"] += packed["segment_ids"].numel()
            self.sharing["two_sequence_tokens"] += int(packed["two_sequence"])

        def forward(**_: object) -> SequenceClassifierOutput:
            return SequenceClassifierOutput(logits=packed_rewards(model, packed))

        return super().compute_loss(forward, inputs, return_outputs, num_items_in_batch)
