"""Stage 4, evaluate: the trained reward model on the *whole* held-out split.

The tutorial measured its win rate on ten training pairs; here every test pair is scored once,
in length-sorted batches without gradients, and the figure is set beside the "longer response
wins" rule on the same pairs, so a reader sees how much of the win rate length alone explains.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from datasets import load_from_disk

from rewardlab.errors import UserError, run_main
from rewardlab.modeling import load_reward_model
from rewardlab.outputs import atomic_file, write_json
from rewardlab.params import params_from_argv
from rewardlab.paths import FEATURES_DIR, METRICS_FILE, MODEL_DIR, SCORES_FILE
from rewardlab.scoring import score_token_ids

DIGITS = 6  # rounding keeps metrics.json stable across platforms' last-bit float noise


def win_rate(chosen: np.ndarray, rejected: np.ndarray) -> float:
    """Fraction of pairs where chosen scores strictly higher; a tie counts as a loss."""
    return float(np.mean(chosen > rejected)) if len(chosen) else 0.0


def pair_metrics(
    chosen_rewards: np.ndarray,
    rejected_rewards: np.ndarray,
    chosen_chars: np.ndarray,
    rejected_chars: np.ndarray,
) -> dict[str, float | int]:
    """The headline figures for one set of scored pairs."""
    margins = chosen_rewards - rejected_rewards
    return {
        "pairs": len(margins),
        "win_rate": round(win_rate(chosen_rewards, rejected_rewards), DIGITS),
        "mean_margin": round(float(margins.mean()), DIGITS),
        "longer_wins_rate": round(win_rate(chosen_chars, rejected_chars), DIGITS),
    }


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    for needed in (FEATURES_DIR, MODEL_DIR):
        if not needed.exists():
            raise UserError(f"{needed} is missing: run `dvc repro` first.")
    test = load_from_disk(str(FEATURES_DIR))["test"]
    model, tokenizer, _ = load_reward_model(MODEL_DIR)
    n = len(test)
    # Both sides in one call: longer length-sorted batches, one pass over the model.
    sequences = list(test["chosen_ids"]) + list(test["rejected_ids"])
    rewards = np.asarray(
        score_token_ids(
            model,
            sequences,
            tokenizer.pad_token_id,
            params.evaluate.batch_size,
        )
    )
    chosen_rewards, rejected_rewards = rewards[:n], rewards[n:]
    chosen_chars = np.array([len(text) for text in test["chosen"]])
    rejected_chars = np.array([len(text) for text in test["rejected"]])
    metrics = pair_metrics(chosen_rewards, rejected_rewards, chosen_chars, rejected_chars)

    with atomic_file(SCORES_FILE) as tmp, tmp.open("w") as handle:
        for i in range(n):
            handle.write(
                json.dumps(
                    {
                        "index": i,
                        "chosen_reward": round(float(chosen_rewards[i]), DIGITS),
                        "rejected_reward": round(float(rejected_rewards[i]), DIGITS),
                        "chosen_chars": int(chosen_chars[i]),
                        "rejected_chars": int(rejected_chars[i]),
                    }
                )
                + "\n"
            )
    write_json(METRICS_FILE, metrics)
    print(f"evaluate: {json.dumps(metrics)}")


if __name__ == "__main__":
    run_main(main)
