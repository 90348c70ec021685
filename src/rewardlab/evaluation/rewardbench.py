"""RewardBench's section scores (Chat, Chat Hard, Safety, Reasoning) from per-subset accuracy.

A figure on ``allenai/reward-bench`` is only comparable with the leaderboard when it is combined
the way RewardBench combines it: each section is the mean of its subsets' accuracies weighted by
the subsets' example counts in the official set (with ``math-prm`` upweighted to match code).
The mapping and counts are data (``rewardbench.yaml``, copied from the ``rewardbench`` package
with its version cited there), so this module only does the arithmetic.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib import resources

import yaml


@functools.cache
def convention() -> dict:
    """``{"example_counts": {subset: n}, "sections": {section: [subset, ...]}}``."""
    text = resources.files("rewardlab.evaluation").joinpath("rewardbench.yaml").read_text()
    return yaml.safe_load(text)


def is_rewardbench_layout(subsets: Iterable[str]) -> bool:
    """True when every category of a set is a RewardBench subset (and there is at least one).

    Such a set is ``allenai/reward-bench`` or a part of it, so its section scores mean something.
    """
    names = set(subsets)
    return bool(names) and names <= set(convention()["example_counts"])


def section_scores(accuracy: Mapping[str, float]) -> dict[str, float]:
    """Each section's example-count-weighted mean of the subset accuracies present.

    As ``rewardbench.utils.calculate_scores_per_section`` computes it, except that a section none
    of whose subsets is present is left out rather than reported as 0.
    """
    counts, sections = convention()["example_counts"], convention()["sections"]
    scores = {}
    for section, subsets in sections.items():
        present = [subset for subset in subsets if subset in accuracy]
        total = sum(counts[subset] for subset in present)
        if total:
            scores[section] = sum(accuracy[s] * counts[s] for s in present) / total
    return scores
