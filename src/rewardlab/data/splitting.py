"""Train/test splits that hold whole topics out, so the test measures generalisation, and never
split a prompt's pairs.

A random split of generated pairs puts the same topics (and their facts) on both sides, and the
win rate then measures memory. When the rows carry a group column (the builtin generator's
``topic_group``), whole groups go to ``test``; a share of the remaining rows becomes
``test_seen_topics``, unseen pairs of groups that keep rows in training (the in-distribution
figure). Rows without the column are split at random, as ``datasets`` does it.

Whatever the split, the pairs that share a prompt (compared casefolded, whitespace collapsed:
:func:`prompt_key`) move together, so no held-out split shares a prompt with training: pairs
made from one prompt's rated completions, or a prompt a source repeats. Groups that share a
prompt are held out together; ``test_size`` is then a share of prompts rather than of pairs.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from datasets import Dataset

from rewardlab.core.errors import UserError

Rows = list[dict[str, Any]]


def prompt_key(prompt: Any) -> str:
    """The prompt as compared across pairs, splits and sources, and by the overlap check
    (``evaluation/overlap.py``): its text -- a conversation's message contents one per line,
    roles left out, so a one-message conversation matches the same text -- casefolded, every
    run of whitespace one space."""
    if prompt is None:
        text = ""
    elif isinstance(prompt, str):
        text = prompt
    else:
        text = "\n".join(str(m["content"]) for m in prompt if m.get("content") is not None)
    return " ".join(text.casefold().split())


def prompt_blocks(rows: Rows) -> list[list[int]]:
    """Row indices grouped by prompt, in order of first appearance (unique prompts: ``[[0], [1],
    ...]``, so a source without repeats splits exactly as row by row)."""
    blocks: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        blocks.setdefault(prompt_key(row.get("prompt")), []).append(i)
    return list(blocks.values())


def split_rows(
    rows: Rows, test_size: float, seed: int, group_column: str | None, seen_test_size: float
) -> tuple[dict[str, Rows], str]:
    """The splits, and what they were split by (the group column, or ``random``)."""
    blocks = prompt_blocks(rows)
    if not group_column or any(row.get(group_column) is None for row in rows):
        return _random_split(rows, blocks, test_size, seed), "random"
    groups = sorted({str(row[group_column]) for row in rows})
    rng = random.Random(seed)
    rng.shuffle(groups)
    linked = _linked_groups(rows, blocks, group_column)
    held_out: set[str] = set()
    for name in groups:
        if len(held_out) >= round(len(groups) * test_size):
            break
        held_out |= linked[name]
    test = [row for row in rows if str(row[group_column]) in held_out]
    rest = [row for row in rows if str(row[group_column]) not in held_out]
    seen = _seen_rows(rest, group_column, round(len(rest) * seen_test_size), rng)
    splits = {
        "train": [row for i, row in enumerate(rest) if i not in seen],
        "test": test,
        "test_seen_topics": [row for i, row in enumerate(rest) if i in seen],
    }
    if not splits["test_seen_topics"]:
        del splits["test_seen_topics"]
    empty = [name for name, split in splits.items() if not split]
    if empty:
        linking = max(len(names) for names in linked.values())
        why = f" ({linking} groups share prompts, so they go together)" if linking > 1 else ""
        raise UserError(
            f"prepare: splitting {len(rows)} pairs in {len(groups)} {group_column} groups with "
            f"prepare.test_size = {test_size} leaves {', '.join(empty)} empty{why}. Use more "
            "data or change prepare.test_size (or prepare.group_column)."
        )
    return splits, group_column


def _linked_groups(rows: Rows, blocks: list[list[int]], group_column: str) -> dict[str, set[str]]:
    """Each group → every group it shares a prompt with, directly or through others."""
    linked = {str(row[group_column]): {str(row[group_column])} for row in rows}
    for block in blocks:
        names = {str(rows[i][group_column]) for i in block}
        if len(names) > 1:
            merged = set().union(*(linked[name] for name in names))
            for name in merged:
                linked[name] = merged
    return linked


def _seen_rows(rows: Rows, group_column: str, count: int, rng: random.Random) -> set[int]:
    """Indices of about ``count`` rows, whole prompts at a time, whose groups keep at least one
    other row in training."""
    left = Counter(str(row[group_column]) for row in rows)
    block_of = {i: block for block in prompt_blocks(rows) for i in block}
    seen: set[int] = set()
    for i in rng.sample(range(len(rows)), len(rows)):
        if len(seen) >= count:
            break
        if i in seen:
            continue
        need = Counter(str(rows[j][group_column]) for j in block_of[i])
        if all(left[group] > n for group, n in need.items()):
            seen.update(block_of[i])
            left.subtract(need)
    return seen


def _random_split(
    rows: Rows, blocks: list[list[int]], test_size: float, seed: int
) -> dict[str, Rows]:
    """``datasets``' seeded ``train_test_split``, drawn over prompts (row positions when every
    prompt is unique) so the rows stay as they are (Arrow would add null keys to messages that
    other messages had)."""
    positions = Dataset.from_dict({"position": range(len(blocks))})
    try:
        split = positions.train_test_split(test_size=test_size, seed=seed)
    except ValueError as exc:  # one side of the split would be empty
        raise UserError(
            f"prepare: {len(rows)} usable pairs cannot be split with prepare.test_size = "
            f"{test_size} ({exc}; {len(blocks)} distinct prompts, each kept on one side). Use "
            "more data or change prepare.test_size."
        ) from None
    return {
        name: [rows[i] for block in split[name]["position"] for i in blocks[block]]
        for name in ("train", "test")
    }
