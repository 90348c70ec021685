"""Batched, gradient-free reward scoring.

Sequences are sorted by length before batching so each batch pads only to its own longest
member; results come back in input order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel


def score_token_ids(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 128,
) -> list[float]:
    """Return one scalar reward per token-id sequence, in input order."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    rewards = [0.0] * len(sequences)
    device = model.device
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(sequences[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids = sequences[i]
                input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
                attention_mask[row, : len(ids)] = 1
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
            ).logits
            for i, value in zip(batch, logits[:, 0].float().cpu().tolist(), strict=True):
                rewards[i] = value
    return rewards
