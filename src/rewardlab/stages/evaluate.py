"""Stage 4, evaluate: the trained reward model on the *whole* held-out split, told truthfully.

The tutorial reported a win rate from ten training pairs. Here every test pair is scored once, in
length-sorted batches without gradients, and the win rate comes with what a reader needs to
believe it: a bootstrap confidence interval; the same pairs under three baselines (the rule
"the longer response wins", random rewards, and the *untrained* model -- same base, the score
head training started from -- so the gain from training is visible); the win rate where length
cannot explain it; and how well sigmoid(margin) is calibrated. Per-pair rewards of both models go
to ``reports/scores.jsonl`` for the figures of ``rewardlab report``.

A held-out split measures memory as much as generalisation when it comes from the same source as
training, so the same figures are reported under ``sets`` for every other held-out split of the
features (e.g. ``test_seen_topics``) and every ``evaluate.sets`` entry (``rewardlab.evalsets``
loads them and renders them as training was rendered). Where a set has categories, each category
gets its own win rate; a set in RewardBench's layout also gets RewardBench's section scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, load_from_disk
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from rewardlab.errors import UserError, run_main
from rewardlab.evalsets import load_evaluation_sets
from rewardlab.modeling import load_base_model, load_reward_model
from rewardlab.normalization import train_reward_stats
from rewardlab.outputs import atomic_file, write_json
from rewardlab.params import EvaluateParams, ModelParams, params_from_argv
from rewardlab.paths import FEATURES_DIR, METRICS_FILE, MODEL_DIR, SCORES_FILE
from rewardlab.rendering import response_chars
from rewardlab.rewardbench import is_rewardbench_layout, section_scores
from rewardlab.scoring import score_token_ids
from rewardlab.stats import (
    bootstrap_ci,
    calibration,
    length_buckets,
    random_win_rate,
    token_buckets,
    win_rate,
    wins,
)

DIGITS = 6  # rounding keeps metrics.json stable across platforms' last-bit float noise


def _round(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), DIGITS)


def rates(frame: pd.DataFrame, params: EvaluateParams) -> dict[str, Any]:
    """Win rate with its CI, and the baselines that score the same pairs without training."""
    won = wins(frame["chosen_reward"], frame["rejected_reward"])
    low, high = bootstrap_ci(won, params.bootstrap_resamples, params.seed)
    return {
        "pairs": len(frame),
        "win_rate": _round(won.mean() if len(frame) else 0.0),
        "win_rate_ci95": {"low": _round(low), "high": _round(high)},
        "untrained_win_rate": _round(
            win_rate(frame["untrained_chosen_reward"], frame["untrained_rejected_reward"])
        ),
        "longer_wins_rate": _round(win_rate(frame["chosen_chars"], frame["rejected_chars"])),
    }


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


def untrained_model(
    metadata: dict[str, Any], tokenizer: PreTrainedTokenizerBase
) -> PreTrainedModel:
    """The base with the very score head training started from (train seeds it the same way)."""
    set_seed(metadata["train"]["seed"])
    model, _ = load_base_model(ModelParams.model_validate(metadata["model"]), tokenizer)
    return model.eval()


def score_pairs(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, test: Dataset, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rewards of the chosen and the rejected side of every pair."""
    # Both sides in one call: longer length-sorted batches, one pass over the model.
    sequences = list(test["chosen_ids"]) + list(test["rejected_ids"])
    rewards = np.asarray(score_token_ids(model, sequences, tokenizer.pad_token_id, batch_size))
    return rewards[: len(test)], rewards[len(test) :]


def per_pair_frame(test: Dataset, trained: tuple, untrained: tuple) -> pd.DataFrame:
    """One row per held-out pair: both models' rewards, both sides' lengths, its category."""
    frame = pd.DataFrame(
        {
            "chosen_reward": trained[0],
            "rejected_reward": trained[1],
            "untrained_chosen_reward": untrained[0],
            "untrained_rejected_reward": untrained[1],
            "chosen_chars": [response_chars(answer) for answer in test["chosen"]],
            "rejected_chars": [response_chars(answer) for answer in test["rejected"]],
            # Before truncation: a pair over the budget shows up in a bucket past max_length.
            "chosen_tokens": test["chosen_length"],
            "rejected_tokens": test["rejected_length"],
        }
    )
    if "category" in test.column_names:
        frame["category"] = test["category"]
    return frame


def _integer(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else int(value)


def write_scores(frame: pd.DataFrame) -> None:
    with atomic_file(SCORES_FILE) as tmp, tmp.open("w") as handle:
        for index, row in enumerate(frame.to_dict("records")):
            rounded = {
                key: round(value, DIGITS) if isinstance(value, float) else _integer(value)
                for key, value in row.items()
            }
            handle.write(json.dumps({"index": index, **rounded}, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    for needed in (FEATURES_DIR, MODEL_DIR):
        if not needed.exists():
            raise UserError(f"{needed} is missing: run `dvc repro` first.")
    features = load_from_disk(str(FEATURES_DIR))
    batch_size = params.evaluate.batch_size
    model, tokenizer, metadata = load_reward_model(MODEL_DIR)
    # The headline split first, then every other held-out split, then the named sets: a set
    # that cannot be loaded fails here, before any scoring.
    held_out = {name: split for name, split in features.items() if name != "train"}
    sets = load_evaluation_sets(
        params.evaluate.sets, metadata, params.featurize.use_chat_template, reserved=features
    )
    scored = {**held_out, **sets}
    trained = {name: score_pairs(model, tokenizer, s, batch_size) for name, s in scored.items()}
    stats = train_reward_stats(
        model,
        tokenizer.pad_token_id,
        batch_size,
        MODEL_DIR,
        params.evaluate.reward_stats_pairs,
        params.evaluate.seed,
    )
    del model  # one model in memory at a time
    untrained_base = untrained_model(metadata, tokenizer)
    untrained = {
        name: score_pairs(untrained_base, tokenizer, s, batch_size) for name, s in scored.items()
    }
    frames = {name: per_pair_frame(scored[name], trained[name], untrained[name]) for name in scored}
    headline = frames.pop("test")
    metrics = summarize(headline, params.evaluate)
    if frames:
        metrics["sets"] = {name: summarize_set(f, params.evaluate) for name, f in frames.items()}
    metrics["reward_stats"] = stats  # for normalising rewards (rewardlab.normalization)
    write_scores(headline)
    write_json(METRICS_FILE, metrics)
    print(f"evaluate: test: {describe(metrics)}; ECE {metrics['calibration']['ece']:.3f}")
    for name, block in metrics.get("sets", {}).items():
        print(f"evaluate: {name}: {describe(block)}")


def describe(block: dict[str, Any]) -> str:
    ci = block["win_rate_ci95"]
    return (
        f"{block['pairs']} pairs, win rate {block['win_rate']:.3f} "
        f"(95% CI {ci['low']:.3f}-{ci['high']:.3f}); untrained {block['untrained_win_rate']:.3f}, "
        f"longer wins {block['longer_wins_rate']:.3f}, random {block['random_win_rate']:.3f}"
    )


if __name__ == "__main__":
    run_main(main)
