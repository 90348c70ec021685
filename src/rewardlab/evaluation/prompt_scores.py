"""A best-of-N set's per-prompt lines, in ``reports/pairs/`` and ``reports/references/NAME/``.

A best-of-N set (``evaluation/bestofn.py``) is compared between runs, and against a reference
model, prompt by prompt: each line carries a content id of the prompt with its lists of correct
and incorrect completions (``pair_scores.pair_id`` over the three, so it does not depend on the
row's position), every completion's reward (correct ones first), ``num_correct``, the prompt's
``credit`` (``stats.top_credit``) and its category. The trained model's lines (evaluate) and a
reference's (the references stage) carry the same ids, so they match prompt by prompt. This
module needs neither a model nor the figures' code, so the references stage depends on little.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rewardlab.core.outputs import DIGITS
from rewardlab.evaluation.pair_scores import pair_id, write_records
from rewardlab.evaluation.stats import top_credit

COLUMNS = ["id", "rewards", "num_correct", "credit", "category"]


def prompt_id(row: Mapping[str, Any]) -> str:
    """A best-of-N row's content id: its prompt, correct completions and incorrect ones."""
    k = row["num_correct"]
    return pair_id(row["prompt"], row["completions"][:k], row["completions"][k:])


def bestofn_records(rows: Sequence[Mapping[str, Any]], frame: pd.DataFrame) -> Iterator[dict]:
    """One record per row of ``frame`` (``rewards`` and ``num_correct`` per prompt; its index is
    the prompt's row in ``rows``): id, every completion's reward, num_correct, credit, category."""
    for index, rewards, k in zip(frame.index, frame["rewards"], frame["num_correct"], strict=True):
        row = rows[index]
        record: dict[str, Any] = {
            "id": prompt_id(row),
            "rewards": [round(float(r), DIGITS) for r in rewards],
            "num_correct": int(k),
            "credit": round(top_credit(rewards, int(k)), DIGITS),
        }
        if row.get("category") is not None:
            record["category"] = row["category"]
        yield record


def write_bestofn_scores(
    folder: Path,
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    frames: Mapping[str, pd.DataFrame],
) -> None:
    """``folder/NAME.jsonl`` for every best-of-N set of ``frames`` (its rows in ``rows``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_records(folder / f"{name}.jsonl", bestofn_records(rows[name], frame))


def is_prompt_lines(lines: Sequence[str]) -> bool:
    """Whether a ``NAME.jsonl`` holds a best-of-N set's lines (its first line has ``rewards``)."""
    first = next((line for line in lines if line.strip()), None)
    return first is not None and "rewards" in json.loads(first)


def read_prompt_scores(lines: Iterable[str]) -> pd.DataFrame:
    """A best-of-N set's lines as a frame with :data:`COLUMNS`, one row per distinct id."""
    records = [json.loads(line) for line in lines if line.strip()]
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    return frame.drop_duplicates("id", keep="first").reset_index(drop=True)
