"""``references.NAME`` in reports/metrics.json: a reference model's figures on the trained model's
pairs, and the paired test between the two.

Evaluate reads each reference's per-pair rewards (``reports/references/NAME/SET.jsonl``, written
by the references stage) and takes exactly the pairs it scored the trained model on, matched by
content id, so both models' figures rest on the same pairs even where featurize dropped some.
The figures are the trained model's (``summary``: win rate with CI, per length, token bucket and
category, calibration, RewardBench sections) computed on the reference's rewards; only
``untrained_win_rate`` is left out, a reference having no untrained self. The buckets are the
same pairs' (``by_tokens`` counts the trained model's tokens), so they compare cell by cell.

Every block (the headline split, and each set under ``sets.SET``) carries ``vs_trained``: the
paired difference **reference - trained** of win rates (positive: the reference ranks more pairs
right), its paired-bootstrap 95% CI and the exact McNemar p-value (``comparison.py``).

A best-of-N set is matched prompt by prompt (``prompt_scores``) and gets a best-of-N set's
figures (``bestofn_summary``: best-of-N accuracy as ``win_rate``, its CI, the baselines, the
RewardBench 2 scores) from the reference's rewards; ``vs_trained`` pairs the two models' credits
per prompt, as ``rewardlab diff`` does: the difference and its CI on the credit, McNemar on the
prompts with full credit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from datasets import Dataset

from rewardlab.core.errors import UserError
from rewardlab.core.params import EvaluateParams
from rewardlab.evaluation.bestofn_summary import credits, summarize_bestofn
from rewardlab.evaluation.comparison import ALPHA, compare_outcomes
from rewardlab.evaluation.pair_scores import pair_id
from rewardlab.evaluation.prompt_scores import prompt_id
from rewardlab.evaluation.reference_scores import read_reference
from rewardlab.evaluation.stats import wins
from rewardlab.evaluation.summary import summarize, summarize_set

if TYPE_CHECKING:
    from rewardlab.evaluation.bestofn import BestOfNSet

HEADLINE = "test"
LINE_LIMIT = 160
STALE = "run `dvc repro references` (or `dvc repro`)"


def pair_ids(pairs: Dataset, rows: Iterable[int]) -> list[str]:
    """The content ids of the given rows of a scored set (``pair_scores.pair_id``)."""
    prompts, chosen, rejected = (list(pairs[column]) for column in ("prompt", "chosen", "rejected"))
    return [pair_id(prompts[row], chosen[row], rejected[row]) for row in rows]


def on_trained_pairs(trained: pd.DataFrame, ids: list[str], ref: pd.DataFrame) -> pd.DataFrame:
    """The trained model's per-pair frame (lengths, tokens, category) with the reference's
    rewards as ``chosen_reward``/``rejected_reward`` and the trained model's outcome kept as
    ``trained_won``, for the pairs both scored."""
    rewards = ref.set_index("id")[["chosen_reward", "rejected_reward"]]
    frame = trained.drop(columns=["untrained_chosen_reward", "untrained_rejected_reward"])
    frame = frame.assign(
        trained_won=wins(trained["chosen_reward"], trained["rejected_reward"]), id=ids
    )
    frame = frame.drop(columns=["chosen_reward", "rejected_reward"])
    return frame.join(rewards, on="id", how="inner")


def on_trained_prompts(trained: pd.DataFrame, ids: list[str], ref: pd.DataFrame) -> pd.DataFrame:
    """A best-of-N set's per-prompt frame of the trained model (lengths, num_correct, category,
    row ids) with the reference's ``rewards`` and the trained model's credit kept as
    ``trained_credit``, for the prompts both scored."""
    frame = trained.assign(
        trained_credit=credits(trained["rewards"], trained["num_correct"]), id=ids
    )
    frame = frame.drop(columns=["rewards", "untrained_rewards"])
    return frame.join(ref.set_index("id")[["rewards"]], on="id", how="inner")


def vs_trained(
    trained: np.ndarray, reference: np.ndarray, params: EvaluateParams
) -> dict[str, Any]:
    """The paired test, reference - trained, on per-pair outcomes (won: True/False) or
    per-prompt best-of-N credits of both models."""
    block = compare_outcomes(
        np.asarray(trained), np.asarray(reference), params.bootstrap_resamples, params.seed
    )
    keys = ("pairs", "difference", "difference_ci95", "p_value")
    return {key: block[key] for key in keys}


def pair_figures(
    name: str, trained: pd.DataFrame, ids: list[str], ref: pd.DataFrame, params: EvaluateParams
) -> dict[str, Any] | None:
    """A pairwise set's figures from the reference's rewards, with ``vs_trained``; None when
    the two share no pair."""
    frame = on_trained_pairs(trained, ids, ref)
    if frame.empty:
        return None
    figures = (summarize if name == HEADLINE else summarize_set)(frame, params)
    won = wins(frame["chosen_reward"], frame["rejected_reward"])
    figures["vs_trained"] = vs_trained(frame["trained_won"].to_numpy(), won, params)
    return figures


def prompt_figures(
    trained: pd.DataFrame, ids: list[str], ref: pd.DataFrame, params: EvaluateParams
) -> dict[str, Any] | None:
    """A best-of-N set's figures from the reference's rewards, with ``vs_trained``; None when
    the two share no prompt."""
    frame = on_trained_prompts(trained, ids, ref)
    if frame.empty:
        return None
    figures = summarize_bestofn(frame, params)
    reference_credit = credits(frame["rewards"], frame["num_correct"])
    figures["vs_trained"] = vs_trained(frame["trained_credit"].to_numpy(), reference_credit, params)
    return figures


def reference_block(
    folder: Path,
    scored: Mapping[str, Dataset],
    frames: Mapping[str, pd.DataFrame],
    params: EvaluateParams,
    bestofn: Mapping[str, BestOfNSet],
    bestofn_frames: Mapping[str, pd.DataFrame],
) -> dict[str, Any]:
    """One reference's figures: the headline split's at the top, every other set's under
    ``sets`` (pairwise sets, then best-of-N sets, as evaluate orders them), each with
    ``vs_trained``."""
    by_set = read_reference(folder)
    block: dict[str, Any] = {}
    for name in [*frames, *bestofn_frames]:
        if name not in by_set:
            raise UserError(f"{folder}/{name}.jsonl is missing: {STALE}.")
        if name in frames:
            trained = frames[name]
            ids = pair_ids(scored[name], trained.index)
            figures = pair_figures(name, trained, ids, by_set[name], params)
        else:
            trained = bestofn_frames[name]
            ids = [prompt_id(bestofn[name].rows[row]) for row in trained.index]
            figures = prompt_figures(trained, ids, by_set[name], params)
        if figures is None:
            raise UserError(f"{folder}/{name}.jsonl shares no pair with evaluate's: {STALE}.")
        if name == HEADLINE:
            block.update(figures)
        else:
            block.setdefault("sets", {})[name] = figures
    return block


def reference_metrics(
    folder: Path,
    scored: Mapping[str, Dataset],
    frames: Mapping[str, pd.DataFrame],
    params: EvaluateParams,
    bestofn: Mapping[str, BestOfNSet] | None = None,
    bestofn_frames: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """``references`` for reports/metrics.json: every ``evaluate.references`` entry's block.
    ``bestofn``/``bestofn_frames``: evaluate's best-of-N sets and its per-prompt frames."""
    out = {}
    for name in params.references:
        if not (folder / name).is_dir():
            raise UserError(f"{folder / name} is missing (evaluate.references.{name}): {STALE}.")
        out[name] = reference_block(
            folder / name, scored, frames, params, bestofn or {}, bestofn_frames or {}
        )
    return out


def _call(vs: dict[str, Any]) -> str:
    if vs["p_value"] is None:
        return "not comparable"
    p = vs["p_value"]
    if p >= ALPHA:
        return f"{vs['difference']:+.3f}, p = {p:.2g} (no detectable difference)"
    return f"{vs['difference']:+.3f}, " + ("p < 0.001" if p < 0.001 else f"p = {p:.2g}")


def describe_reference(name: str, block: dict[str, Any]) -> str:
    """One line: the headline win rate, reference - trained with its p, the sets' tally."""
    tally = {"better": 0, "worse": 0, "same": 0}
    for figures in (block.get("sets") or {}).values():
        vs = figures["vs_trained"]
        if vs["p_value"] is None or vs["p_value"] >= ALPHA:
            tally["same"] += 1
        else:
            tally["better" if vs["difference"] > 0 else "worse"] += 1
    line = (
        f"evaluate: reference {name}: test win rate {block['win_rate']:.3f}, reference - trained "
        f"{_call(block['vs_trained'])}"
    )
    if block.get("sets"):
        line += (
            f"; other sets: better on {tally['better']}, worse on {tally['worse']}, "
            f"no detectable difference on {tally['same']}"
        )
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1] + "…"
