"""Stage 4, evaluate: the trained reward model on the *whole* held-out split, told truthfully.

The tutorial reported a win rate from ten training pairs. Here every test pair is scored once, in
length-sorted batches without gradients, and the win rate comes with what a reader needs to
believe it: a bootstrap confidence interval; the same pairs under three baselines (the rule
"the longer response wins", random rewards, and the *untrained* model -- same base, the score
head training started from -- so the gain from training is visible); the win rate where length
cannot explain it; and how well sigmoid(margin) is calibrated. Per-pair rewards of both models go
to ``reports/scores.jsonl`` for the figures of ``rewardlab report``, and every scored set's
trained-model rewards, keyed by pair content, to ``reports/pairs/`` for ``rewardlab diff``.

A held-out split measures memory as much as generalisation when it comes from the same source as
training, so the same figures are reported under ``sets`` for every other held-out split of the
features (e.g. ``test_seen_topics``) and every ``evaluate.sets`` entry (``evaluation/evalsets.py``
loads them and renders them as training was rendered). Where a set has categories, each category
gets its own win rate; a set in RewardBench's layout also gets RewardBench's section scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from datasets import load_from_disk

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_dir, atomic_file, write_json
from rewardlab.core.params import params_from_argv
from rewardlab.core.paths import FEATURES_DIR, METRICS_FILE, MODEL_DIR, PAIRS_DIR, SCORES_FILE
from rewardlab.evaluation.evalsets import load_evaluation_sets
from rewardlab.evaluation.pair_scores import write_pair_scores
from rewardlab.evaluation.pairs import per_pair_frame, score_pairs, untrained_model
from rewardlab.evaluation.summary import DIGITS, describe, summarize, summarize_set
from rewardlab.model.loading import load_reward_model
from rewardlab.model.normalization import train_reward_stats


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
    shared = bool(metadata.get("prefix_sharing"))  # as the model was trained
    trained = {
        name: score_pairs(model, tokenizer, s, batch_size, shared) for name, s in scored.items()
    }
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
        name: score_pairs(untrained_base, tokenizer, s, batch_size, shared)
        for name, s in scored.items()
    }
    frames = {name: per_pair_frame(scored[name], trained[name], untrained[name]) for name in scored}
    with atomic_dir(PAIRS_DIR) as folder:  # every set's per-pair rewards, for `rewardlab diff`
        write_pair_scores(folder, scored, frames)
    headline = frames.pop("test")
    metrics = summarize(headline, params.evaluate)
    if frames:
        metrics["sets"] = {name: summarize_set(f, params.evaluate) for name, f in frames.items()}
    metrics["reward_stats"] = stats  # for normalising rewards (rewardlab.model.normalization)
    write_scores(headline)
    write_json(METRICS_FILE, metrics)
    print(f"evaluate: test: {describe(metrics)}; ECE {metrics['calibration']['ece']:.3f}")
    for name, block in metrics.get("sets", {}).items():
        print(f"evaluate: {name}: {describe(block)}")


if __name__ == "__main__":
    run_main(main)
