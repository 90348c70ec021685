"""The figures ``reports/metrics.json`` holds for one scored set, from its per-pair frame.

A win rate alone does not say whether to believe it, so each comes with a bootstrap CI and the
baselines that score the same pairs without training: the longer response, random rewards, and
the untrained model; the headline split adds token-length buckets and calibration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rewardlab.core.outputs import DIGITS
from rewardlab.core.params import EvaluateParams
from rewardlab.evaluation.rewardbench import is_rewardbench_layout, section_scores
from rewardlab.evaluation.stats import (
    bootstrap_ci,
    calibration,
    length_buckets,
    random_win_rate,
    token_buckets,
    win_rate,
    wins,
)


def _round(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), DIGITS)


def rates(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """Win rate with its CI, and the baselines that score the same pairs without training
    (the untrained model's only where the frame has its rewards: not for a reference model)."""
    won = wins(frame["chosen_reward"], frame["rejected_reward"])
    low, high = bootstrap_ci(won, params.bootstrap_resamples, params.seed)
    block = {
        "pairs": len(frame),
        "win_rate": _round(won.mean() if len(frame) else 0.0),
        "win_rate_ci95": {"low": _round(low), "high": _round(high)},
        "longer_wins_rate": _round(win_rate(frame["chosen_chars"], frame["rejected_chars"])),
    }
    if "untrained_chosen_reward" in frame:  # not for a reference model: no untrained self
        block["untrained_win_rate"] = _round(
            win_rate(frame["untrained_chosen_reward"], frame["untrained_rejected_reward"])
        )
    return block


def by_category(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """The rates per category, for pairs that carry one (a set without categories: empty)."""
    if "category" not in frame:
        return {}
    labelled = frame[frame["category"].notna()]
    return {
        str(name): rates(group, params) for name, group in labelled.groupby("category", sort=True)
    }


def categories(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """``by_category``, plus RewardBench's ``sections`` when the categories are its subsets."""
    groups = by_category(frame, params)
    if not groups:
        return {}
    out: dict[str, Any] = {"by_category": groups}
    if is_rewardbench_layout(groups):
        labelled = frame[frame["category"].notna()]
        won = wins(labelled["chosen_reward"], labelled["rejected_reward"])
        accuracy = pd.Series(won, index=labelled.index).groupby(labelled["category"]).mean()
        sections = section_scores(accuracy.to_dict())
        out["sections"] = {name: _round(value) for name, value in sections.items()}
    return out


def summarize_set(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """What ``sets.<name>`` says about an extra evaluation set: the rates, where length can
    explain them, and the per-category figures."""
    margins = (frame["chosen_reward"] - frame["rejected_reward"]).to_numpy()
    length = length_buckets(frame["chosen_chars"], frame["rejected_chars"], params.length_tolerance)
    return {
        **rates(frame, params),
        "mean_margin": _round(margins.mean() if len(margins) else 0.0),
        "random_win_rate": _round(random_win_rate(len(frame), params.seed)),
        "by_length_diff": {
            name: rates(group, params) for name, group in frame.groupby(length, observed=True)
        },
        **categories(frame, params),
    }


def summarize(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """Everything ``reports/metrics.json`` says about the headline held-out split."""
    margins = (frame["chosen_reward"] - frame["rejected_reward"]).to_numpy()
    tokens = token_buckets(np.maximum(frame["chosen_tokens"], frame["rejected_tokens"]))
    table, ece = calibration(margins, params.calibration_bins)
    return {
        **summarize_set(frame, params),
        "by_tokens": {
            name: rates(group, params) for name, group in frame.groupby(tokens, observed=True)
        },
        "calibration": {
            "ece": _round(ece),
            "bins": {
                f"{row.low:.2f}-{row.high:.2f}": {
                    "pairs": int(row.pairs),
                    "predicted": _round(row.predicted),
                    "observed": _round(row.observed),
                }
                for row in table.itertuples()
            },
        },
    }


def describe(block: dict[str, Any]) -> str:
    ci = block["win_rate_ci95"]
    unit = "prompts (best-of-N)" if "completions_per_prompt" in block else "pairs"
    return (
        f"{block['pairs']} {unit}, win rate {block['win_rate']:.3f} "
        f"(95% CI {ci['low']:.3f}-{ci['high']:.3f}); untrained {block['untrained_win_rate']:.3f}, "
        f"longer wins {block['longer_wins_rate']:.3f}, random {block['random_win_rate']:.3f}"
    )
