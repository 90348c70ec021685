"""Train/test splits that hold whole topics out, so the test measures generalisation.

A random split of generated pairs puts the same topics (and their facts) on both sides, and the
win rate then measures memory. When the rows carry a group column (the builtin generator's
``topic_group``), whole groups go to ``test``; a share of the remaining rows becomes
``test_seen_topics``, unseen pairs of groups that keep rows in training (the in-distribution
figure). Rows
without the column are split at random, as ``datasets`` does it.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from datasets import Dataset

from rewardlab.core.errors import UserError

Rows = list[dict[str, Any]]


def split_rows(
    rows: Rows, test_size: float, seed: int, group_column: str | None, seen_test_size: float
) -> tuple[dict[str, Rows], str]:
    """The splits, and what they were split by (the group column, or ``random``)."""
    if not group_column or any(row.get(group_column) is None for row in rows):
        return _random_split(rows, test_size, seed), "random"
    groups = sorted({str(row[group_column]) for row in rows})
    rng = random.Random(seed)
    rng.shuffle(groups)
    held_out = set(groups[: round(len(groups) * test_size)])
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
        raise UserError(
            f"prepare: splitting {len(rows)} pairs in {len(groups)} {group_column} groups with "
            f"prepare.test_size = {test_size} leaves {', '.join(empty)} empty. Use more data "
            "or change prepare.test_size."
        )
    return splits, group_column


def _seen_rows(rows: Rows, group_column: str, count: int, rng: random.Random) -> set[int]:
    """Indices of ``count`` rows whose group keeps at least one other row in training."""
    left = Counter(str(row[group_column]) for row in rows)
    seen: set[int] = set()
    for i in rng.sample(range(len(rows)), len(rows)):
        group = str(rows[i][group_column])
        if len(seen) < count and left[group] > 1:
            seen.add(i)
            left[group] -= 1
    return seen


def _random_split(rows: Rows, test_size: float, seed: int) -> dict[str, Rows]:
    """``datasets``' seeded ``train_test_split``, drawn over row positions so the rows stay as
    they are (Arrow would add null keys to messages that other messages had)."""
    positions = Dataset.from_dict({"position": range(len(rows))})
    try:
        split = positions.train_test_split(test_size=test_size, seed=seed)
    except ValueError as exc:  # one side of the split would be empty
        raise UserError(
            f"prepare: {len(rows)} usable pairs cannot be split with prepare.test_size = "
            f"{test_size} ({exc}). Use more data or change prepare.test_size."
        ) from None
    return {name: [rows[i] for i in split[name]["position"]] for name in ("train", "test")}
