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
gets its own win rate; a set in RewardBench's layout also gets RewardBench's section scores. A
best-of-N set (RewardBench 2: lists of correct and incorrect completions per prompt) is scored
per prompt by ``evaluation/bestofn.py`` and summarised with the same keys
(``evaluation/bestofn_summary.py``), plus RewardBench 2's own scores. Reference models
(``evaluate.references``, scored by the references stage) get the same figures on the same pairs
(a best-of-N set's: the same prompts) under ``references.NAME``, each with the paired test
against the trained model. Each set also says how many of its pairs (a best-of-N set's prompts)
share their prompt with a training pair, exactly or by a 13-gram (``evaluation/overlap.py``);
``evaluate.overlap: exclude`` leaves those out.
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
from rewardlab.core.paths import (
    FEATURES_DIR,
    METRICS_FILE,
    MODEL_DIR,
    PAIRS_DIR,
    REFERENCES_DIR,
    SCORES_FILE,
)
from rewardlab.evaluation.bestofn import BestOfNSet, bestofn_frame, score_with_model
from rewardlab.evaluation.bestofn_summary import summarize_bestofn
from rewardlab.evaluation.evalsets import load_evaluation_sets
from rewardlab.evaluation.overlap import check_sets, kept_pairs, overlap_block, warning_line
from rewardlab.evaluation.pair_scores import write_pair_scores
from rewardlab.evaluation.pairs import per_pair_frame, score_pairs, untrained_model
from rewardlab.evaluation.prompt_scores import write_bestofn_scores
from rewardlab.evaluation.reference_figures import describe_reference, reference_metrics
from rewardlab.evaluation.summary import DIGITS, describe, summarize, summarize_set
from rewardlab.model.loading import load_reward_model
from rewardlab.model.normalization import train_reward_stats


def _integer(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else int(value)


def write_scores(frame: pd.DataFrame) -> None:
    with atomic_file(SCORES_FILE) as tmp, tmp.open("w") as handle:
        for index, row in zip(frame.index, frame.to_dict("records"), strict=True):  # test row
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
    bestofn = {name: s for name, s in sets.items() if isinstance(s, BestOfNSet)}
    scored = {**held_out, **{name: s for name, s in sets.items() if name not in bestofn}}
    mode = params.evaluate.overlap  # prompts shared with training: counted, or left out
    prompts = {name: s["prompt"] for name, s in scored.items()}
    prompts |= {name: [row["prompt"] for row in s.rows] for name, s in bestofn.items()}
    overlaps = check_sets(features["train"]["prompt"], prompts, mode)
    shared = bool(metadata.get("prefix_sharing"))  # as the model was trained
    trained = {
        name: score_pairs(model, tokenizer, s, batch_size, shared) for name, s in scored.items()
    }
    # A best-of-N set's completions one sequence each (prefix sharing gives the same rewards).
    ranked = {
        name: score_with_model(model, tokenizer, s, batch_size) for name, s in bestofn.items()
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
    frames = {
        name: kept_pairs(per_pair_frame(s, trained[name], untrained[name]), overlaps[name], mode)
        for name, s in scored.items()
    }
    bestofn_frames = {
        name: kept_pairs(
            bestofn_frame(
                s, ranked[name], score_with_model(untrained_base, tokenizer, s, batch_size)
            ),
            overlaps[name],
            mode,
        )
        for name, s in bestofn.items()
    }
    with atomic_dir(PAIRS_DIR) as folder:  # every set's per-pair rewards, for `rewardlab diff`
        write_pair_scores(folder, scored, frames)
        write_bestofn_scores(folder, {n: s.rows for n, s in bestofn.items()}, bestofn_frames)
    references = reference_metrics(
        REFERENCES_DIR, scored, frames, params.evaluate, bestofn, bestofn_frames
    )
    headline = frames.pop("test")
    metrics = summarize(headline, params.evaluate)
    blocks = {name: summarize_set(f, params.evaluate) for name, f in frames.items()}
    blocks |= {name: summarize_bestofn(f, params.evaluate) for name, f in bestofn_frames.items()}
    if blocks:
        metrics["sets"] = blocks
    for name, block in [("test", metrics), *metrics.get("sets", {}).items()]:
        block["overlap"] = overlap_block(overlaps[name], mode)
    metrics["reward_stats"] = stats  # for normalising rewards (rewardlab.model.normalization)
    if references:
        metrics["references"] = references
    write_scores(headline)
    write_json(METRICS_FILE, metrics)
    print(f"evaluate: test: {describe(metrics)}; ECE {metrics['calibration']['ece']:.3f}")
    for name, block in metrics.get("sets", {}).items():
        print(f"evaluate: {name}: {describe(block)}")
    for name, block in references.items():
        print(describe_reference(name, block))
    for name, overlap in overlaps.items():
        line = warning_line(name, overlap, mode, "prompts" if name in bestofn else "pairs")
        if line:
            print(line)


if __name__ == "__main__":
    run_main(main)
