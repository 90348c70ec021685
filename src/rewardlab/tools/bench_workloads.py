"""The bench's two workloads: the builtin single-turn pairs, and hh-rlhf-shaped transcripts.

``builtin``: ``generate_pairs`` as the default pipeline trains on it; the prompt is about a
third of each rendered sequence's tokens.

``multi-turn``: what researchers train on (Anthropic hh-rlhf and its kin): each pair's prompt is
a transcript of 1-4 earlier turns (a builtin prompt and its chosen answer, drawn from other
builtin pairs) before the pair's own question, and the two answers are the pair's own. Rendered
with the role template, the text reads ``\\n\\nHuman: … \\n\\nAssistant: … \\n\\nHuman: …
\\n\\nAssistant: {answer}``, and the shared prompt is about three quarters of each sequence's
tokens: the share a prefix-sharing trainer saves once per pair. Seeded, so every run and every
recipe sees the same transcripts.
"""

from __future__ import annotations

import random
from typing import Any

from datasets import Dataset

from rewardlab.core.params import Params
from rewardlab.data.rendering import role_prefixes
from rewardlab.data.sources.generator import generate_pairs
from rewardlab.data.tokenizing import SIDES, format_pair, tokenize_split

WORKLOADS = ("builtin", "multi-turn")
# How many earlier turns come before a pair's own question, and how often: fewer more often,
# as in hh-rlhf; a mean of 2 turns puts the prompt at about 3/4 of each sequence's tokens.
EARLIER_TURNS = {1: 0.4, 2: 0.3, 3: 0.2, 4: 0.1}
MULTI_TURN_MAX_LENGTH = 512  # the token budget per side: MiniLM's maximum, few transcripts reach it


def multi_turn_pairs(num_pairs: int, template: str, seed: int = 0) -> list[dict[str, Any]]:
    """``num_pairs`` builtin pairs, each behind a transcript of 1-4 earlier turns.

    The earlier turns are written into the prompt with the template's own role prefixes, so
    ``render_pair`` lays the whole transcript out as a conversation rendered turn by turn would.
    """
    user, assistant, end = role_prefixes(template)
    pairs = generate_pairs(num_pairs, seed)
    donors = generate_pairs(num_pairs + 4 * max(EARLIER_TURNS), seed + 1)
    rng = random.Random(f"rewardlab-bench-multi-turn:{seed}")
    rows = []
    for row in pairs:
        turns_before = rng.choices(list(EARLIER_TURNS), list(EARLIER_TURNS.values()))[0]
        earlier = rng.sample(donors, turns_before)
        turns = [f"{d['prompt']}{assistant}{d['chosen']}{end}{user}" for d in earlier]
        rows.append({**row, "prompt": "".join(turns) + row["prompt"], "earlier_turns": len(turns)})
    return rows


def workload_rows(workload: str, num_pairs: int, template: str) -> list[dict[str, Any]]:
    if workload == "builtin":
        return generate_pairs(num_pairs)
    return multi_turn_pairs(num_pairs, template)


def workload_data(
    workload: str, tokenizer, params: Params, pairs: int, eval_pairs: int
) -> dict[str, Any]:
    """A workload rendered and tokenized as prepare and featurize do; the tail is held out."""
    featurize = params.featurize
    if workload == "multi-turn":  # transcripts run past the default 128 tokens a side
        featurize = featurize.model_copy(update={"max_length": MULTI_TURN_MAX_LENGTH})
    raw = workload_rows(workload, pairs + eval_pairs, featurize.template)
    rows = [format_pair(r, featurize.template) for r in raw]
    features, stats = tokenize_split(Dataset.from_list(rows), tokenizer, featurize)
    features = features.select_columns(["chosen_ids", "rejected_ids", "length"])
    test = features.select(range(pairs, pairs + eval_pairs))
    return {
        "train": features.select(range(pairs)),
        "test": test,
        "test_rows": rows[pairs:],
        "test_pair_tokens": [
            len(c) + len(r) for c, r in zip(test["chosen_ids"], test["rejected_ids"], strict=True)
        ],
        "stats": {
            "max_length": featurize.max_length,
            "tokens_per_sequence": {side: stats[f"{side}_tokens"] for side in SIDES},
            "prompt_share": prompt_share(tokenizer, rows, featurize.template),
        },
    }


def prompt_share(tokenizer, rows: list[dict[str, Any]], template: str) -> float:
    """Tokens of the rendered prompt (up to the answer) over tokens of the whole sequence.

    Measured on both sides of every pair: what a pair shares is the prompt, what it does not
    is each answer. Special tokens ([CLS]/[SEP]) count with the prompt.
    """
    user, assistant, _ = role_prefixes(template)
    prompt = total = 0
    for row in rows:
        head = len(tokenizer(f"{user}{row['prompt']}{assistant}")["input_ids"])
        for side in SIDES:
            whole = len(tokenizer(row[f"{side}_text"])["input_ids"])
            prompt, total = prompt + min(head, whole), total + whole
    return prompt / total
