"""Rows of one or more prefix-shared pairs: the batch tensors, the attention mask, the rewards.

``prefix_sharing`` lays a pair out as one row (prefix, chosen rest, rejected rest). A batch is
rows of such pairs: one pair a row, or, with ``train.packing``, several. Packing deals a batch's
pairs first-fit, longest first, into rows no wider than its widest pair, so short pairs share a
row instead of each padding one to the widest. Segment ``3k + s`` is side ``s`` (prefix, chosen,
rejected) of the row's k-th pair, and -1 is padding; a row of one pair is k = 0, the single-pair
layout exactly. Positions restart at each pair (each pair keeps its own layout's), the mask keeps
every pair to itself, and each reward is read at its (row, column): the rewards, loss and
gradients are the two-sequence path's either way.

Only this module knows how rows hold pairs; ``prefix_sharing`` builds and reads batches through
it. With ``packing`` the length-grouped sampler no longer decides the padding, packing does: a
packing run draws its batches in random order (``training.reward_config``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from rewardlab.core.errors import UserError

if TYPE_CHECKING:
    from rewardlab.model.prefix_sharing import SharedPair

SIDES = 3  # segments per pair: its prefix, its chosen rest, its rejected rest
PREFIX, CHOSEN, REJECTED, PAD = 0, 1, 2, -1  # segment ids of a row's first pair, and padding
BATCH_KEYS = ("input_ids", "position_ids", "segment_ids", "chosen_at", "rejected_at")


def resolve(setting: str, shared: bool) -> bool:
    """``train.packing`` for a run that shares prefixes (``shared``) or not: ``auto`` packs
    wherever training is prefix-shared; ``on`` without prefix sharing is an error."""
    if setting == "on" and not shared:
        raise UserError(
            "train.packing = 'on' packs prefix-shared pairs, but train.prefix_sharing is off for "
            "this run (an encoder base, or attention that takes no 4D mask); "
            "set train.packing: auto or off, or train.prefix_sharing: auto with a decoder base."
        )
    return shared and setting != "off"


def first_fit(widths: Sequence[int]) -> list[list[int]]:
    """Pair indices per row: first-fit decreasing into rows as wide as the widest pair.

    Ties keep input order (a stable sort), so the same batch always packs the same way.
    """
    capacity = max(widths, default=0)
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
        row = next((r for r, free in enumerate(room) if free >= widths[i]), None)
        if row is None:
            rows.append([])
            room.append(capacity)
            row = len(rows) - 1
        rows[row].append(i)
        room[row] -= widths[i]
    return rows


def rows_batch(
    pairs: Sequence[SharedPair], rows: Sequence[Sequence[int]], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """Tensors of a batch whose row r holds ``pairs[i] for i in rows[r]``, padded on the right.

    ``chosen_at`` and ``rejected_at`` are (pairs, 2): the (row, column) of each pair's rewards,
    in the order of ``pairs``, whatever row a pair landed in.
    """
    width = max(sum(len(pairs[i].ids) for i in row) for row in rows)
    batch = {
        "input_ids": torch.full((len(rows), width), pad_token_id, dtype=torch.long),
        "position_ids": torch.zeros((len(rows), width), dtype=torch.long),
        "segment_ids": torch.full((len(rows), width), PAD, dtype=torch.long),
    }
    chosen_at, rejected_at = [(0, 0)] * len(pairs), [(0, 0)] * len(pairs)
    for r, members in enumerate(rows):
        start = 0
        for k, i in enumerate(members):
            pair = pairs[i]
            stop = start + len(pair.ids)
            batch["input_ids"][r, start:stop] = torch.as_tensor(pair.ids, dtype=torch.long)
            batch["position_ids"][r, start:stop] = torch.as_tensor(pair.positions)
            batch["segment_ids"][r, start:stop] = torch.as_tensor(pair.segments) + SIDES * k
            chosen_at[i] = (r, start + pair.chosen_index)
            rejected_at[i] = (r, start + pair.rejected_index)
            start = stop
    batch["chosen_at"] = torch.tensor(chosen_at, dtype=torch.long)
    batch["rejected_at"] = torch.tensor(rejected_at, dtype=torch.long)
    return batch


def attention_mask(segment_ids: torch.Tensor, attention: str, dtype: torch.dtype) -> torch.Tensor:
    """The (rows, 1, query, key) mask: causal, within the token's own pair, and there the
    pair's prefix or the token's own side.

    Padding (segment -1, at the end of a row) sees the padding before it and itself, never an
    empty row, whose softmax would be NaN and poison the gradients through the padded positions.
    Boolean for SDPA, additive float for eager attention: transformers takes either as it is.
    """
    width = segment_ids.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=segment_ids.device).tril()
    pair = torch.div(segment_ids, SIDES, rounding_mode="floor")  # padding: -1, a pair of its own
    query, key = segment_ids[:, :, None], segment_ids[:, None, :]
    same_pair = pair[:, :, None] == pair[:, None, :]
    prefix = (key >= 0) & (key % SIDES == PREFIX)
    allowed = (causal & same_pair & ((key == query) | prefix))[:, None]
    if attention == "sdpa":
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min
    )


def read_rewards(scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The per-token scores (rows, width, 1) at each side's token: (2 x pairs, 1), the chosen
    sides first, then the rejected ones, as a two-sequence batch's logits."""
    at = torch.cat([batch["chosen_at"], batch["rejected_at"]])
    return scores[at[:, 0], at[:, 1]]


def token_counts(batch: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Padded tokens this batch computes, and what two sequences per pair would have (both
    sides padded to the batch's longest side, as TRL's collator pads)."""
    segments = batch["segment_ids"]
    slots = int(segments.max()) // SIDES + 1  # pairs in the fullest row
    offsets = torch.arange(segments.shape[0], device=segments.device)[:, None] * slots * SIDES
    real = segments >= 0
    counts = torch.bincount(
        (segments + offsets)[real], minlength=segments.shape[0] * slots * SIDES
    ).view(-1, SIDES)
    longest = int((counts[:, PREFIX] + torch.maximum(counts[:, CHOSEN], counts[:, REJECTED])).max())
    return segments.numel(), 2 * batch["chosen_at"].shape[0] * longest
