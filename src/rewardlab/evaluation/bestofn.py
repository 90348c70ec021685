"""Best-of-N evaluation sets: a prompt, one or more correct completions and several incorrect ones.

RewardBench 2 (``allenai/reward-bench-2``) has this layout: ``prompt``, ``chosen`` and ``rejected``
*lists* of completions, ``num_correct``, ``subset``, ``id``. A row is a set of completions, not a
pair, so it is not cleaned into pairs: each completion is checked as a pair's side would be (the
same drop reasons: missing, bad_type, mixed_format, bad_message, no_assistant_turn, empty,
duplicate), rendered for the trained model by ``evalsets.set_rendering`` exactly as a pairwise
set of its format, and tokenized by ``scoring.encode_responses`` (featurize's ids). Completions
are ordered correct first, then incorrect, as ``rewardbench``'s ``load_bon_dataset_v2`` unrolls
them; ``num_correct`` is the length of the ``chosen`` list.

A text prompt may go with text completions or with completions that are lists of
``{role, content}`` messages; a prompt that is itself a list of messages needs message
completions. A completion that repeats the prompt's messages before its own has them cut.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rewardlab.core.errors import UserError
from rewardlab.data.formats import MESSAGE_ROLES, Format
from rewardlab.data.rendering import Content, as_messages, response_chars
from rewardlab.model.scoring import encode_responses, score_token_ids

SIDES = ("chosen", "rejected")
Scorer = Callable[[Sequence[Content], Sequence[Content]], Sequence[float]]
"""Rewards of (prompt, completion) pairs, in order: how any reward model scores a set."""


@dataclass
class BestOfNSet:
    """The kept rows of a best-of-N set, and every completion's token ids for the trained model."""

    rows: list[dict[str, Any]]  # prompt, completions (correct first), num_correct, category, id
    input_ids: list[list[int]]  # one per completion, row by row
    fmt: Format

    @property
    def sizes(self) -> list[int]:
        return [len(row["completions"]) for row in self.rows]

    def flat(self) -> tuple[list[Content], list[Content]]:
        """(prompt, completion) of every completion, row by row: what a scorer is given."""
        prompts = [row["prompt"] for row in self.rows for _ in row["completions"]]
        return prompts, [c for row in self.rows for c in row["completions"]]

    def regroup(self, flat_rewards: Sequence[float]) -> list[np.ndarray]:
        """Flat rewards (as :meth:`flat` orders them) back into one array per row."""
        ends = np.cumsum(self.sizes)
        return np.split(np.asarray(flat_rewards, dtype=float), ends[:-1])


def is_completion_list(value: Any) -> bool:
    """A non-empty list of completions, each a text or a list of messages (not one message)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, str | list) for item in value)
    )


def is_bestofn(rows: Sequence[Mapping[str, Any]]) -> bool:
    """True when most rows hold lists of completions under ``chosen`` and ``rejected``."""
    lists = sum(all(is_completion_list(row.get(side)) for side in SIDES) for row in rows)
    return lists > len(rows) / 2


def _is_message(message: Any) -> bool:
    return (
        isinstance(message, Mapping)
        and message.get("role") in MESSAGE_ROLES
        and isinstance(message.get("content"), str)
    )


def _completion(value: Any, prompt: list[dict] | None, kind: str) -> tuple[Content | None, str]:
    """A completion in canonical form and "", or None and the reason to drop its row."""
    if isinstance(value, str):
        if kind != "standard":
            return None, "mixed_format"
        return (value, "") if value.strip() else (None, "empty")
    if kind != "conversational":
        return None, "mixed_format"
    if not all(map(_is_message, value)):
        return None, "bad_message"
    messages = as_messages(value, "assistant")
    if prompt and messages[: len(prompt)] == prompt:
        messages = messages[len(prompt) :]  # a full conversation: the prompt's turns cut
    if not any(m["role"] == "assistant" for m in messages):
        return None, "no_assistant_turn"
    return (messages, "") if any(m["content"].strip() for m in messages) else (None, "empty")


def row_kind(row: Mapping[str, Any]) -> str | None:
    """``standard`` (text prompt, text completions), ``conversational``, or None."""
    first = row.get("chosen")
    if not is_completion_list(first) or not isinstance(row.get("prompt"), str | list):
        return None
    texts = isinstance(row["prompt"], str) and isinstance(first[0], str)
    return "standard" if texts else "conversational"


def clean_row(row: Mapping[str, Any], kind: str) -> dict[str, Any] | str:
    """``prompt``, ``completions`` (correct first) and ``num_correct``, or why it is dropped."""
    for column in ("prompt", *SIDES):
        if row.get(column) is None:
            return "missing"
    if isinstance(row["prompt"], str):
        if not row["prompt"].strip():
            return "empty"
        prompt: Content = (
            row["prompt"] if kind == "standard" else as_messages(row["prompt"], "user")
        )
    elif kind != "conversational":
        return "mixed_format"
    elif not isinstance(row["prompt"], list) or not all(map(_is_message, row["prompt"])):
        return "bad_message"
    elif not any(m["content"].strip() for m in row["prompt"]):
        return "empty"
    else:
        prompt = as_messages(row["prompt"], "user")
    completions: list[Content] = []
    for side in SIDES:
        if not isinstance(row[side], list):
            return "bad_type"
        if not row[side]:
            return "empty"  # a prompt needs a correct and an incorrect completion
        if not is_completion_list(row[side]):
            return "bad_type"
        for value in row[side]:
            done, reason = _completion(value, None if isinstance(prompt, str) else prompt, kind)
            if reason:
                return reason
            completions.append(done)
    return {"prompt": prompt, "completions": completions, "num_correct": len(row["chosen"])}


def clean_rows(
    rows: Sequence[Mapping[str, Any]], requested: str, key: str
) -> tuple[list[dict[str, Any]], Format, Counter[str]]:
    """The usable, first-seen rows (with their ``category`` and ``id``), their format, and the
    dropped rows counted by reason; a set with no usable row is an error naming its key."""
    kinds = Counter(kind for row in rows if (kind := row_kind(row)) is not None)
    if requested != "auto":
        kinds = Counter({kind: n for kind, n in kinds.items() if kind == requested})
    if not kinds:
        raise UserError(
            f"{key}: no row holds a prompt with lists of completions under chosen/rejected of "
            f"the {requested} format; check {key}.columns and {key}.format."
        )
    kind = kinds.most_common(1)[0][0]
    kept, seen, dropped = [], set(), Counter()
    for row in rows:
        result = clean_row(row, kind)
        if not isinstance(result, str):
            identity = json.dumps([result["prompt"], result["completions"]], sort_keys=True)
            result = "duplicate" if identity in seen else result
            seen.add(identity)
        if isinstance(result, str):
            dropped[result] += 1
            continue
        category = row.get("category")
        kept.append({**result, "category": None if category is None else str(category),
                     "id": row.get("id")})  # fmt: skip
    if not kept:
        raise UserError(
            f"{key}: no usable best-of-N rows ({len(rows)} rows, dropped: {dict(dropped)}). "
            f"Check {key}.columns and {key}.format."
        )
    return kept, Format(kind, "explicit"), dropped


def tokenize_rows(
    rows: list[dict[str, Any]],
    fmt: Format,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    rendering: dict[str, Any],
) -> BestOfNSet:
    """Every completion's ids as featurize would make them with this set's rendering."""
    staged = BestOfNSet(rows, [], fmt)
    prompts, completions = staged.flat()
    staged.input_ids = encode_responses(
        tokenizer, {**metadata, "rendering": rendering}, prompts, completions
    )
    return staged


def score_bestofn(bestofn: BestOfNSet, score: Scorer) -> list[np.ndarray]:
    """One reward array per row from any scorer of (prompt, completion) pairs."""
    return bestofn.regroup(score(*bestofn.flat()))


def score_with_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, bestofn: BestOfNSet, batch: int
) -> list[np.ndarray]:
    """One reward array per row from a model that reads this set's token ids."""
    flat = score_token_ids(model, bestofn.input_ids, tokenizer.pad_token_id, batch)
    return bestofn.regroup(flat)


def bestofn_frame(
    bestofn: BestOfNSet, trained: list[np.ndarray], untrained: list[np.ndarray]
) -> pd.DataFrame:
    """One row per prompt: both models' rewards and every completion's length, as lists."""
    rows = bestofn.rows
    return pd.DataFrame(
        {
            "rewards": [r.tolist() for r in trained],
            "untrained_rewards": [r.tolist() for r in untrained],
            "chars": [[response_chars(c) for c in row["completions"]] for row in rows],
            "num_correct": [row["num_correct"] for row in rows],
            "category": [row["category"] for row in rows],
            "row_id": [row["id"] for row in rows],
        }
    )
