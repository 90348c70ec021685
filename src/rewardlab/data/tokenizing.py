"""Rendering pairs into the texts the model reads and tokenizing both sides under a token budget.

Shared by featurize (the training source), evaluation sets and the benchmark, so every path sees
the same ids for the same pair.
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from rewardlab.core.params import FeaturizeParams
from rewardlab.data.rendering import render_text

SIDES = ("chosen", "rejected")


def render_split(
    split: Dataset,
    template: str,
    rendering: dict | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> Dataset:
    """Add ``chosen_text``/``rejected_text`` (and whether special tokens go around them)."""

    def render(row: dict) -> dict:
        out = {}
        for side in SIDES:
            text, special = render_text(rendering, template, row["prompt"], row[side], tokenizer)
            out[f"{side}_text"] = text
        out["add_special_tokens"] = special
        return out

    return split.map(render, desc="Rendering")


def format_pair(row: dict[str, str], template: str) -> dict[str, str]:
    """A text pair with its rendered texts: the role template around prompt and response."""
    return {
        **row,
        **{
            f"{side}_text": render_text(None, template, row["prompt"], row[side])[0]
            for side in SIDES
        },
    }


def tokenize_split(
    split: Dataset, tokenizer: PreTrainedTokenizerBase, params: FeaturizeParams
) -> tuple[Dataset, dict]:
    """Add ``chosen_ids``/``rejected_ids``, apply the token budget, and describe the lengths."""

    # One rendering per set, so one flag (a chat template's text holds its special tokens).
    special = split[0]["add_special_tokens"] if "add_special_tokens" in split.column_names else True

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out = {}
        for side in SIDES:
            ids = tokenizer(batch[f"{side}_text"], add_special_tokens=special)["input_ids"]
            out[f"{side}_length"] = [len(x) for x in ids]  # before any truncation
            out[f"{side}_ids"] = ids
        return out

    encoded = split.map(encode, batched=True, desc="Tokenizing")
    lengths = {side: np.asarray(encoded[f"{side}_length"]) for side in SIDES}
    over = (lengths["chosen"] > params.max_length) | (lengths["rejected"] > params.max_length)
    if params.overflow == "drop":
        encoded = encoded.select(np.flatnonzero(~over))
    else:
        encoded = encoded.map(
            lambda row: _truncate(row, params.max_length, tokenizer), desc="Truncating"
        )
    # The trainer's length-grouped sampler reads this column instead of re-measuring every pair.
    encoded = encoded.map(
        lambda row: {"length": max(len(row["chosen_ids"]), len(row["rejected_ids"]))},
        desc="Measuring",
    )
    stats = {
        "pairs_in": len(split),
        "pairs_out": len(encoded),
        f"pairs_{'dropped' if params.overflow == 'drop' else 'truncated'}": int(over.sum()),
        **{f"{side}_tokens": _describe(lengths[side]) for side in SIDES},
    }
    return encoded, stats


def _truncate(row: dict, max_length: int, tokenizer: PreTrainedTokenizerBase) -> dict:
    """Cut a side to ``max_length`` tokens, keeping its closing special token (BERT's [SEP])."""
    out = {}
    for side in SIDES:
        ids = row[f"{side}_ids"]
        if len(ids) > max_length:
            last = ids[-1] if ids[-1] in tokenizer.all_special_ids else None
            ids = [*ids[: max_length - 1], last] if last is not None else ids[:max_length]
        out[f"{side}_ids"] = ids
    return out


def _describe(lengths: np.ndarray) -> dict:
    if lengths.size == 0:
        return {"mean": 0.0, "p50": 0, "p95": 0, "max": 0}
    return {
        "mean": round(float(lengths.mean()), 2),
        "p50": int(np.percentile(lengths, 50)),
        "p95": int(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
    }
