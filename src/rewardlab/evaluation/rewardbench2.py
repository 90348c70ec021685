"""RewardBench 2's figures for a best-of-N set: each subset as the ``rewardbench`` package scores
it, the Ties subset by its own weighted score, and their mean.

A figure on ``allenai/reward-bench-2`` is only comparable with the leaderboard when it is
computed the package's way, so the rules are ported line for line from version 0.1.4
(``reroll_and_score_dataset``, ``sample_stats``, ``process_single_model``, ``scripts/run_v2.py``)
and their numbers are data (``rewardbench2.yaml``, with the citation).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
import yaml

from rewardlab.core.errors import UserError


@functools.cache
def convention() -> dict[str, Any]:
    text = resources.files("rewardlab.evaluation").joinpath("rewardbench2.yaml").read_text()
    return yaml.safe_load(text)


class Prompt(NamedTuple):
    """One scored prompt: its rewards (correct completions first), how many are correct, its
    subset and its ``id`` column (``ref:N`` / ``tied:N`` in Ties)."""

    rewards: Sequence[float]
    num_correct: int
    subset: str | None
    row_id: Any


def reroll_result(rewards: Sequence[float]) -> float:
    """``reroll_and_score_dataset``'s result: 1 / (completions at the top) when the first
    (correct) completion is at the top, else 0."""
    scores = np.asarray(rewards, dtype=float)
    top = np.max(scores)
    return float(1 / np.sum(scores == top)) if scores[0] == top else 0.0


def sample_stats(rewards: Sequence[float], num_correct: int) -> dict[str, Any]:
    """``rewardbench.utils.sample_stats`` on one prompt's completions (first ``num_correct``
    correct), the figures ``process_single_model`` combines."""
    correct, incorrect = list(rewards[:num_correct]), list(rewards[num_correct:])
    if not correct or not incorrect:
        return {"accurate": False, "different_correct_margin": None, "correct_incorrect_margin": 0}
    worst_correct, best_incorrect = min(correct), max(incorrect)
    return {
        "accurate": worst_correct > best_incorrect,
        "different_correct_margin": max(correct) - worst_correct if len(correct) > 1 else None,
        "correct_incorrect_margin": worst_correct - best_incorrect,
    }


def ties_id(row_id: Any) -> tuple[str, int] | None:
    """``("ref", 12)`` for the id ``ref:12`` (as ``process_single_model`` splits it), or None."""
    ties = convention()["ties"]
    kind, _, number = str(row_id).partition(ties["id_separator"])
    if kind not in (ties["ref"], ties["tied"]) or not number.lstrip("-").isdigit():
        return None
    return kind, int(number)


def check_ties_ids(rows: Iterable[tuple[Any, Any]], key: str) -> None:
    """Fail before any scoring when a Ties row (``(subset, id)``) has an id the Ties score
    cannot read."""
    ties = convention()["ties"]
    for subset, row_id in rows:
        if subset is not None and is_ties(str(subset)) and ties_id(row_id) is None:
            raise UserError(
                f"{key}: a row of the Ties subset has the id {row_id!r}; RewardBench 2 scores "
                f"Ties from ids '{ties['ref']}:N' and '{ties['tied']}:N' (column 'id')."
            )


def ties_score(prompts: Iterable[Prompt]) -> float:
    """``process_single_model``'s ``overall_score`` for the rows of the Ties subset."""
    ties = convention()["ties"]
    stats: dict[str, dict[int, dict[str, Any]]] = {ties["ref"]: {}, ties["tied"]: {}}
    for prompt in prompts:
        parsed = ties_id(prompt.row_id)
        if parsed is None:
            raise UserError(f"a Ties row's id is {prompt.row_id!r}: see check_ties_ids")
        stats[parsed[0]][parsed[1]] = sample_stats(prompt.rewards, prompt.num_correct)
    ref, tied = stats[ties["ref"]], stats[ties["tied"]]
    accuracy = {
        name: float(np.mean([s["accurate"] for s in group.values()])) if group else 0.0
        for name, group in (("ref", ref), ("tied", tied))
    }
    common = set(ref) & set(tied)
    preferred = preferred_hard = margin_score = 0.0
    if common:
        with_margin = [r for r in common if tied[r]["different_correct_margin"] is not None]
        hard = {r: min(ref[r]["correct_incorrect_margin"], tied[r]["correct_incorrect_margin"])
                for r in with_margin}  # fmt: skip
        gap = {r: tied[r]["different_correct_margin"] for r in with_margin}
        preferred = _mean([tied[r]["correct_incorrect_margin"] > gap[r] for r in with_margin])
        preferred_hard = _mean([hard[r] > gap[r] for r in with_margin])
        ratios = [hard[r] / gap[r] for r in with_margin if gap[r] > 0]
        margin_score = _mean([math.tanh(r - 1) for r in ratios]) if ratios else 0.0
    weights = ties["weights"]
    return (
        weights["tied_accuracy"] * accuracy["tied"]
        + weights["ref_accuracy"] * accuracy["ref"]
        + weights["correctness_preferred"] * preferred
        + weights["correctness_preferred_hard"] * preferred_hard
        + weights["correctness_margin_score"] * margin_score
    )


def _mean(values: Sequence[float]) -> float:
    """np.mean as the package takes it: NaN for no values (metrics.json then says null)."""
    return float(np.mean(values)) if len(values) else math.nan


def is_ties(subset: str) -> bool:
    return subset.lower() == convention()["ties"]["subset"]


def subset_scores(prompts: Iterable[Prompt]) -> dict[str, float]:
    """Each subset's figure as ``scripts/run_v2.py`` reports it: the mean reroll result, or for
    Ties its weighted score. Prompts without a subset are left out."""
    groups: dict[str, list[Prompt]] = {}
    for prompt in prompts:
        if prompt.subset is not None:
            groups.setdefault(str(prompt.subset), []).append(prompt)
    return {
        name: ties_score(group)
        if is_ties(name)
        else float(np.mean([reroll_result(p.rewards) for p in group]))
        for name, group in sorted(groups.items())
    }


def rewardbench2_scores(prompts: Iterable[Prompt]) -> dict[str, Any] | None:
    """``{"by_subset": {...}, "overall": mean of them}``, or None for a set without subsets."""
    scores = subset_scores(prompts)
    if not scores:
        return None
    return {"by_subset": scores, "overall": _mean(list(scores.values()))}
