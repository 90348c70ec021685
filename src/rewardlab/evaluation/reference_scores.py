"""A reference model's per-pair rewards on every scored set, in the files evaluate reads.

The references stage scores each ``evaluate.references`` entry on the pairs evaluate scores (the
held-out splits of ``data/prepared`` and every ``evaluate.sets`` entry, read and cleaned by
``evalsets.read_evaluation_set``), with no trained model in sight, so retraining never rescores
a reference. Each reference leaves ``reports/references/NAME/SET.jsonl`` in the layout of
``reports/pairs/`` (``pair_scores``: content id, both rewards, category), so its pairs match the
trained model's by id, and ``NAME/reference.json`` saying what was loaded and how it read pairs.
A best-of-N set's completions are scored through ``bestofn.score_bestofn`` and written one line
per prompt, as evaluate writes them (``prompt_scores``), with the same ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rewardlab.evaluation.bestofn import BestOfNSet, score_bestofn
from rewardlab.evaluation.pair_scores import read_pair_scores, write_pair_scores
from rewardlab.evaluation.prompt_scores import (
    is_prompt_lines,
    read_prompt_scores,
    write_bestofn_scores,
)
from rewardlab.model.references import Reference, score_texts

RECORD_FILE = "reference.json"
SIDES = ("chosen", "rejected")


def columns(pairs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Canonical pairs (prepare's rows) as the columns ``pair_scores`` reads."""
    names = ("prompt", *SIDES, "category")
    return {name: [pair.get(name) for pair in pairs] for name in names}


def score_pair_sets(
    reference: Reference, sets: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, pd.DataFrame]:
    """Both sides of every pair of every set scored in one call (one pass of length-sorted
    batches); a frame per set: ``chosen_reward``, ``rejected_reward``, ``category``."""
    prompts = [pair["prompt"] for pairs in sets.values() for _ in SIDES for pair in pairs]
    responses = [pair[side] for pairs in sets.values() for side in SIDES for pair in pairs]
    rewards = np.asarray(score_texts(reference, prompts, responses), dtype=float)
    frames, start = {}, 0
    for name, pairs in sets.items():
        n = len(pairs)
        frame = pd.DataFrame(
            {
                "chosen_reward": rewards[start : start + n],
                "rejected_reward": rewards[start + n : start + 2 * n],
            }
        )
        frame["category"] = [pair.get("category") for pair in pairs]
        frames[name], start = frame, start + 2 * n
    return frames


def score_bestofn_sets(
    reference: Reference, sets: Mapping[str, BestOfNSet]
) -> dict[str, pd.DataFrame]:
    """Every completion of every best-of-N set scored; a frame per set, one row per prompt:
    ``rewards`` (correct completions first) and ``num_correct``."""

    def scorer(prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        return score_texts(reference, prompts, completions)

    return {
        name: pd.DataFrame(
            {
                "rewards": [r.tolist() for r in score_bestofn(bestofn, scorer)],
                "num_correct": [row["num_correct"] for row in bestofn.rows],
            }
        )
        for name, bestofn in sets.items()
    }


def write_reference(
    folder: Path,
    reference: Reference,
    sets: Mapping[str, Sequence[Mapping[str, Any]]],
    frames: Mapping[str, pd.DataFrame],
    bestofn: Mapping[str, BestOfNSet] | None = None,
    bestofn_frames: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """``folder/SET.jsonl`` for every set (a best-of-N set's per prompt), and
    ``folder/reference.json`` (pairs per set; prompts for a best-of-N set)."""
    bestofn = bestofn or {}
    write_pair_scores(folder, {name: columns(pairs) for name, pairs in sets.items()}, frames)
    rows = {name: s.rows for name, s in bestofn.items()}
    write_bestofn_scores(folder, rows, bestofn_frames or {})
    counts = {name: len(pairs) for name, pairs in {**sets, **rows}.items()}
    record = {**reference.describe(), "sets": counts}
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_reference(folder: Path) -> dict[str, pd.DataFrame]:
    """One reference's frames by set name: per pair (``pair_scores.read_pair_scores``), or for
    a best-of-N set per prompt (``prompt_scores.read_prompt_scores``)."""
    frames = {}
    for path in sorted(folder.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        reader = read_prompt_scores if is_prompt_lines(lines) else read_pair_scores
        frames[path.stem] = reader(lines)
    return frames
