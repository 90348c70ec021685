"""Rendering pairs into the texts the model reads and tokenizing both sides under a token budget.

Shared by featurize (the training source), evaluation sets and the benchmark, so every path sees
the same ids for the same pair.

For decoder bases the prompt and the answer are tokenized apart (``apart=True``): a side's ids are
the prompt's ids followed by the answer's, so both sides start with the very same prompt ids and
prefix sharing (``model/prefix_sharing.py``) shares the whole prompt, while the two-sequence path
reads the same ids. The cut between them is where the rendered response starts, moved back over
the whitespace before it: byte-level BPE (GPT-2, Llama 3, Qwen) joins a space to the word after
it, so the cut falls where tokenizing the whole text splits anyway, and the ids nearly always
equal the whole text's (featurize counts the pairs where they do not: ``pairs_retokenized``).
Encoders keep tokenizing the whole text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from rewardlab.core.params import FeaturizeParams
from rewardlab.data.rendering import Content, render_text

SIDES = ("chosen", "rejected")
APART = "prompt+response"  # the ``tokenization`` that stats.json and the model metadata record
SENTINEL = "\ue000"  # a private-use character no response starts with: where the response goes


def render_split(
    split: Dataset,
    template: str,
    rendering: dict | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    apart: bool = False,
) -> Dataset:
    """Add ``chosen_text``/``rejected_text`` (and whether special tokens go around them); with
    ``apart``, also where each side's response starts (``{side}_response_start``)."""

    def render(row: dict) -> dict:
        out = {}
        for side in SIDES:
            text, special = render_text(rendering, template, row["prompt"], row[side], tokenizer)
            out[f"{side}_text"] = text
            if apart:
                out[f"{side}_response_start"] = response_start(
                    text, rendering, template, row["prompt"], row[side], tokenizer
                )
        out["add_special_tokens"] = special
        return out

    return split.map(render, desc="Rendering")


def response_start(
    text: str,
    rendering: dict | None,
    template: str,
    prompt: Content,
    response: Content,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> int:
    """Where the response begins in its rendered ``text``, moved back over whitespace.

    The text is rendered again with a sentinel in the response's place; the two agree up to
    where the response begins, whatever the template or chat template puts around it.
    """
    probe, _ = render_text(rendering, template, prompt, _sentinel(response), tokenizer)
    cut = 0
    for a, b in zip(text, probe, strict=False):
        if a != b:
            break
        cut += 1
    while cut and text[cut - 1].isspace():
        cut -= 1
    return cut


def _sentinel(response: Content) -> Content:
    if isinstance(response, str):
        return SENTINEL
    return [
        {"role": m["role"], "content": SENTINEL if i == 0 else m["content"]}
        for i, m in enumerate(response)
    ]


def special_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer adds before and after a text on its own (Llama: BOS, GPT-2: none)."""
    plain = tokenizer("reward model probe", add_special_tokens=False)["input_ids"]
    full = tokenizer("reward model probe", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise RuntimeError(f"cannot tell the special tokens of {type(tokenizer).__name__} apart")


def encode_apart(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    starts: Sequence[int],
    special: bool,
) -> list[list[int]]:
    """Ids of each text with the part before ``start`` (the prompt) tokenized on its own."""
    before, after = special_ids(tokenizer) if special else ([], [])
    heads = tokenizer([t[:c] for t, c in zip(texts, starts, strict=True)], add_special_tokens=False)
    tails = tokenizer([t[c:] for t, c in zip(texts, starts, strict=True)], add_special_tokens=False)
    return [
        [*before, *head, *tail, *after]
        for head, tail in zip(heads["input_ids"], tails["input_ids"], strict=True)
    ]


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

    apart = "chosen_response_start" in split.column_names

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out = {}
        retokenized = [False] * len(batch[f"{SIDES[0]}_text"])
        for side in SIDES:
            texts = batch[f"{side}_text"]
            ids = tokenizer(texts, add_special_tokens=special)["input_ids"]
            if apart:
                whole = ids
                ids = encode_apart(tokenizer, texts, batch[f"{side}_response_start"], special)
                retokenized = [r or a != w for r, a, w in zip(retokenized, ids, whole, strict=True)]
            out[f"{side}_length"] = [len(x) for x in ids]  # before any truncation
            out[f"{side}_ids"] = ids
        if apart:
            out["retokenized"] = retokenized
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
    if apart:  # pairs whose ids differ from tokenizing each side's whole text
        stats["pairs_retokenized"] = int(np.sum(encoded["retokenized"]))
        encoded = encoded.remove_columns("retokenized")
    return encoded, stats


def _truncate(row: dict, max_length: int, tokenizer: PreTrainedTokenizerBase) -> dict:
    return {
        f"{side}_ids": truncate_ids(row[f"{side}_ids"], max_length, tokenizer) for side in SIDES
    }


def truncate_ids(ids: list[int], max_length: int, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Cut ids to ``max_length`` tokens, keeping a closing special token (BERT's [SEP])."""
    if len(ids) > max_length:
        last = ids[-1] if ids[-1] in tokenizer.all_special_ids else None
        ids = [*ids[: max_length - 1], last] if last is not None else ids[:max_length]
    return ids


def _describe(lengths: np.ndarray) -> dict:
    if lengths.size == 0:
        return {"mean": 0.0, "p50": 0, "p95": 0, "max": 0}
    return {
        "mean": round(float(lengths.mean()), 2),
        "p50": int(np.percentile(lengths, 50)),
        "p95": int(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
    }
