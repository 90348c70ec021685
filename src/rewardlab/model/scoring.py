"""Batched, gradient-free reward scoring, from token ids or from a prompt and its responses.

Sequences are sorted by length before batching so each batch pads only to its own longest
member; results come back in input order. Texts are rendered with the template and token budget
the model was trained with, read from its metadata, so a reward here means what it meant in
training. Pairs of a model trained with prefix sharing are scored shared too, one row per pair
(:func:`score_pair_ids`), with the rewards of the two-sequence path.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils.logging import tqdm

from rewardlab.data.rendering import Content, render_text
from rewardlab.data.tokenizing import APART, encode_apart, response_start, truncate_ids
from rewardlab.model import prefix_sharing

PROGRESS_MIN_BATCHES = 10  # below this, a bar is noise rather than news
# Padded tokens a scoring batch holds at most on a CPU (one longer sequence: alone). Not on a GPU,
# which wants the largest batch that fits (evaluate.batch_size), not one that fits a CPU cache.
TOKEN_BUDGET = 512
Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")


def autocast(device: torch.device, precision: Precision):
    """bf16 autocast, opt-in: about 2.5x faster scoring on a bf16-capable CPU (``rewardlab
    bench``), but rewards round to bf16's 8 bits (steps of 1/64 near 3), so exact values and
    near-ties differ from fp32; fp32 is the default and what evaluate's metrics use."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def score_token_ids(
    model: PreTrainedModel,
    sequences: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 128,
    desc: str = "Scoring",
    precision: Precision = "fp32",
    token_type_ids: Sequence[Sequence[int]] | None = None,
) -> list[float]:
    """Return one scalar reward per token-id sequence, in input order.

    ``token_type_ids``: per sequence, the segment of each token, for a model that reads a text
    pair with segment embeddings (BERT-like references fed ``tokenizer(prompt, response)``).

    Batches hold at most ``batch_size`` sequences and, on a CPU, at most ``TOKEN_BUDGET`` tokens,
    pads included, so a batch of short sequences stays small enough for the CPU's caches and pads
    little (``rewardlab bench``: the GPT-2 and MiniLM rates peak at 256-512 tokens a batch; one
    batch of 128 builtin sequences ran at 0.6-0.8x the one-text loop). A batch without padding
    gets no attention mask, and the key/value cache of a decoder is never built: scoring
    generates nothing. Pads sit after each sequence and are masked out, so none of this changes
    a reward.
    """
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    device = model.device
    lengths = [len(sequences[i]) for i in order]
    batches = _token_budget_batches(lengths, batch_size, on_cpu=device.type == "cpu")
    rewards = [0.0] * len(sequences)
    extra = {"use_cache": False} if getattr(model.config, "use_cache", False) else {}
    with torch.inference_mode(), autocast(device, precision):
        for start, stop in tqdm(batches, desc=desc, disable=len(batches) < PROGRESS_MIN_BATCHES):
            batch = order[start:stop]
            width = len(sequences[batch[-1]])  # sorted: the last is the longest
            input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            types = torch.zeros_like(input_ids) if token_type_ids is not None else None
            for row, i in enumerate(batch):
                ids = sequences[i]
                input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
                attention_mask[row, : len(ids)] = 1
                if types is not None:
                    types[row, : len(ids)] = torch.as_tensor(token_type_ids[i], dtype=torch.long)
            inputs = {"input_ids": input_ids.to(device), **extra}
            if types is not None:
                inputs["token_type_ids"] = types.to(device)
            if len(sequences[batch[0]]) < width:
                inputs["attention_mask"] = attention_mask.to(device)
            logits = model(**inputs).logits
            for i, value in zip(batch, logits[:, 0].float().cpu().tolist(), strict=True):
                rewards[i] = value
    return rewards


def _token_budget_batches(
    lengths: Sequence[int], batch_size: int, on_cpu: bool = True
) -> list[tuple[int, int]]:
    """``(start, stop)`` runs of ascending ``lengths``: at most ``batch_size`` long and, on a
    CPU and past the first sequence, at most ``TOKEN_BUDGET`` tokens once padded to the run's
    longest."""
    budget = TOKEN_BUDGET if on_cpu else None
    batches, start = [], 0
    for stop in range(1, len(lengths) + 1):
        full = stop - start == batch_size
        over = (
            budget is not None
            and stop < len(lengths)
            and (stop + 1 - start) * lengths[stop] > budget
        )
        if stop == len(lengths) or full or over:
            batches.append((start, stop))
            start = stop
    return batches


def score_pair_ids(
    model: PreTrainedModel,
    chosen: Sequence[Sequence[int]],
    rejected: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 128,
    shared: bool = False,
    precision: Precision = "fp32",
    desc: str = "Scoring",
) -> tuple[list[float], list[float]]:
    """Rewards of both sides of every pair, in input order.

    ``shared``: one row per pair (``prefix_sharing``), at most ``batch_size // 2`` pairs and
    (on a CPU) ``TOKEN_BUDGET`` padded tokens a batch, so a batch holds no more pairs than a
    two-sequence batch of ``batch_size`` sequences holds; otherwise both sides go through
    :func:`score_token_ids` in one call, as separate sequences.
    """
    if not shared:
        rewards = score_token_ids(
            model, [*chosen, *rejected], pad_token_id, batch_size, desc, precision
        )
        return rewards[: len(chosen)], rewards[len(chosen) :]
    width = [
        len(c) + len(r) - prefix_sharing.common_prefix(c, r)
        for c, r in zip(chosen, rejected, strict=True)
    ]
    order = sorted(range(len(chosen)), key=width.__getitem__)
    pairs = max(1, batch_size // 2)
    # The same token budget as score_token_ids, counted in shared rows' widths.
    device = model.device
    batches = _token_budget_batches([width[i] for i in order], pairs, device.type == "cpu")
    out = ([0.0] * len(chosen), [0.0] * len(chosen))
    with torch.inference_mode(), autocast(device, precision):
        for start, stop in tqdm(batches, desc=desc, disable=len(batches) < PROGRESS_MIN_BATCHES):
            batch = order[start:stop]
            tensors = prefix_sharing.shared_batch(
                [chosen[i] for i in batch], [rejected[i] for i in batch], pad_token_id
            )
            rewards = prefix_sharing.shared_rewards(
                model, {key: value.to(device) for key, value in tensors.items()}
            )
            values = rewards[:, 0].float().cpu().tolist()
            for row, i in enumerate(batch):
                out[0][i], out[1][i] = values[row], values[len(batch) + row]
    return out


def encode_responses(
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    prompts: Sequence[Content],
    responses: Sequence[Content],
) -> list[list[int]]:
    """Token ids of each (prompt, response) exactly as featurize made them for training.

    Prompts and responses are texts or lists of ``{role, content}`` messages; they are rendered
    by ``rendering.render_text`` with the template and rendering recorded in the model's
    metadata (chat template included). The tokenizer's own truncation keeps the closing special
    token (BERT's [SEP]) just as featurize's ``truncate`` does, so a pair scored here gets the
    reward evaluate gave it.
    """
    rendered = [
        render_text(metadata.get("rendering"), metadata["template"], prompt, response, tokenizer)
        for prompt, response in zip(prompts, responses, strict=True)
    ]
    special = rendered[0][1] if rendered else True
    if metadata.get("tokenization") == APART:  # prompt tokenized apart, as featurize did
        texts = [text for text, _ in rendered]
        starts = [
            response_start(text, metadata.get("rendering"), metadata["template"], p, r, tokenizer)
            for text, p, r in zip(texts, prompts, responses, strict=True)
        ]
        return [
            truncate_ids(ids, metadata["max_length"], tokenizer)
            for ids in encode_apart(tokenizer, texts, starts, special)
        ]
    encoded = tokenizer(
        [text for text, _ in rendered],
        truncation=True,
        max_length=metadata["max_length"],
        add_special_tokens=special,
    )
    return encoded["input_ids"]


def score_responses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    prompts: Sequence[Content],
    responses: Sequence[Content],
    batch_size: int = 128,
    precision: Precision = "fp32",
) -> list[float]:
    """One reward per (prompt, response), in input order."""
    sequences = encode_responses(tokenizer, metadata, prompts, responses)
    return score_token_ids(
        model, sequences, tokenizer.pad_token_id, batch_size, precision=precision
    )


def score_pair_responses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    prompts: Sequence[Content],
    chosen: Sequence[Content],
    rejected: Sequence[Content],
    batch_size: int = 128,
    precision: Precision = "fp32",
) -> tuple[list[float], list[float]]:
    """Rewards of the chosen and the rejected response of every prompt, in input order; shared
    (one row per pair) where the model's metadata says it was trained so."""
    return score_pair_ids(
        model,
        encode_responses(tokenizer, metadata, prompts, chosen),
        encode_responses(tokenizer, metadata, prompts, rejected),
        tokenizer.pad_token_id,
        batch_size,
        shared=bool(metadata.get("prefix_sharing")),
        precision=precision,
    )
