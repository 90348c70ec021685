"""A reference model's per-pair rewards on every scored set, in the files evaluate reads.

The references stage scores each ``evaluate.references`` entry on the pairs evaluate scores (the
held-out splits of ``data/prepared`` and every ``evaluate.sets`` entry, read and cleaned by
``evalsets.read_evaluation_set``), with no trained model in sight, so retraining never rescores
a reference. Each reference leaves ``reports/references/NAME/SET.jsonl`` in the layout of
``reports/pairs/`` (``pair_scores``: content id, both rewards, category), so its pairs match the
trained model's by id, and ``NAME/reference.json`` saying what was loaded and how it read pairs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rewardlab.evaluation.pair_scores import read_pair_scores, write_pair_scores
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


def write_reference(
    folder: Path,
    reference: Reference,
    sets: Mapping[str, Sequence[Mapping[str, Any]]],
    frames: Mapping[str, pd.DataFrame],
) -> None:
    """``folder/SET.jsonl`` for every set, and ``folder/reference.json``."""
    write_pair_scores(folder, {name: columns(pairs) for name, pairs in sets.items()}, frames)
    record = {**reference.describe(), "sets": {name: len(pairs) for name, pairs in sets.items()}}
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_reference(folder: Path) -> dict[str, pd.DataFrame]:
    """One reference's per-pair frames by set name (``pair_scores.read_pair_scores``)."""
    return {
        path.stem: read_pair_scores(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(folder.glob("*.jsonl"))
    }
