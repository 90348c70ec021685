"""The figures ``sets.NAME`` holds for a best-of-N set (its per-prompt lines: ``prompt_scores``).

The keys are a pairwise set's where they mean the same thing, read per prompt instead of per
pair: ``pairs`` counts prompts, ``win_rate`` is the best-of-N accuracy (the mean credit,
``stats.top_credit``: a prompt is right when a correct completion outscores every incorrect one,
credit shared among completions tied at the top), ``win_rate_ci95`` a bootstrap over prompts,
``untrained_win_rate`` the untrained model's, ``longer_wins_rate`` the rule "the longest
completion wins" under the same tie rule, and ``random_win_rate`` the chance a random pick is
correct (the mean of num_correct / N, 1/N with one correct completion: 0.25 on RewardBench 2),
plus ``completions_per_prompt`` (the mean N). A set with subsets adds ``rewardbench2``:
each subset as the ``rewardbench`` package scores it (the Ties subset by its weighted score) and
their mean, ``overall`` (``rewardbench2.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rewardlab.core.params import EvaluateParams
from rewardlab.evaluation.rewardbench2 import Prompt, rewardbench2_scores
from rewardlab.evaluation.stats import bootstrap_mean_ci, top_credit
from rewardlab.evaluation.summary import _round


def credits(scores: Sequence[Sequence[float]], num_correct: Sequence[int]) -> np.ndarray:
    """Each prompt's best-of-N credit under ``scores`` (rewards, or lengths for a baseline)."""
    return np.asarray(
        [top_credit(s, k) for s, k in zip(scores, num_correct, strict=True)], dtype=float
    )


def rates(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """Best-of-N accuracy with its prompt-level CI, and the baselines on the same prompts (the
    untrained model's only where the frame has its rewards: not for a reference model)."""
    won = credits(frame["rewards"], frame["num_correct"])
    low, high = bootstrap_mean_ci(won, params.bootstrap_resamples, params.seed)
    sizes = frame["rewards"].map(len).to_numpy()
    chance = frame["num_correct"].to_numpy() / np.maximum(sizes, 1)
    empty = len(frame) == 0

    def mean_credit(column: str) -> float | None:
        return _round(0.0 if empty else credits(frame[column], frame["num_correct"]).mean())

    block: dict[str, Any] = {
        "pairs": len(frame),
        "win_rate": _round(0.0 if empty else won.mean()),
        "win_rate_ci95": {"low": _round(low), "high": _round(high)},
    }
    if "untrained_rewards" in frame:
        block["untrained_win_rate"] = mean_credit("untrained_rewards")
    return block | {
        "longer_wins_rate": mean_credit("chars"),
        "random_win_rate": _round(0.0 if empty else chance.mean()),
        "completions_per_prompt": _round(0.0 if empty else sizes.mean()),
    }


def prompts(frame: pd.DataFrame) -> list[Prompt]:
    return [
        Prompt(row.rewards, row.num_correct, row.category, row.row_id) for row in frame.itertuples()
    ]


def summarize_bestofn(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """What ``sets.<name>`` says about a best-of-N set."""
    block = rates(frame, params)
    labelled = frame[frame["category"].notna()]
    if len(labelled):
        block["by_category"] = {
            str(name): rates(group, params)
            for name, group in labelled.groupby("category", sort=True)
        }
        scores = rewardbench2_scores(prompts(labelled))
        if scores is not None:
            block["rewardbench2"] = {
                "by_subset": {name: _round(v) for name, v in scores["by_subset"].items()},
                "overall": _round(scores["overall"]),
            }
    return block
