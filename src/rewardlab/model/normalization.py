"""Reward statistics and standardised rewards.

A pairwise-trained reward model fixes only differences: its rewards sit wherever training left
them (around -2.7 with std 2.2 for the default model), while PPO-style trainers and KL penalties
need rewards of known scale. Evaluate measures the mean and std of the rewards on the training
split (chosen and rejected together; OpenRLHF stores the same two numbers with its models);
``rewardlab export --normalize`` folds them into the score head, and
:class:`rewardlab.rlhf.RewardModelFunction` can apply them on the fly.

The statistics are tied to the model they were measured on by the hash of its weights, so a
stale ``reports/metrics.json`` is never applied to another model.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel

from rewardlab.core.errors import UserError
from rewardlab.model.loading import ADAPTER_WEIGHTS

DIGITS = 6


def model_fingerprint(model_dir: str | Path) -> str:
    """sha256 of the adapter weights: which trained model a set of statistics belongs to."""
    digest = hashlib.sha256()
    with (Path(model_dir) / ADAPTER_WEIGHTS).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def reward_stats(rewards: np.ndarray, model_dir: str | Path, pairs_in_split: int) -> dict[str, Any]:
    """Mean, std (population) and count of ``rewards``, labelled with the model's fingerprint;
    ``pairs_in_split`` says how many pairs the sampled split holds."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return {
        "mean": round(float(rewards.mean()), DIGITS),
        "std": round(float(rewards.std()), DIGITS),
        "n": int(rewards.size),
        "split": "train",
        "split_pairs": pairs_in_split,
        "model_sha256": model_fingerprint(model_dir),
    }


def stats_for(
    model_dir: str | Path, metadata: dict[str, Any], metrics_file: Path | None, required: bool
) -> dict:
    """The statistics of this model: its own (an export carries them), or evaluate's when they
    were measured on these very weights; empty when there are none (an error if ``required``)."""
    if metadata.get("reward_stats"):
        return metadata["reward_stats"]
    stats = {}
    if metrics_file is not None and metrics_file.is_file():
        stats = json.loads(metrics_file.read_text()).get("reward_stats") or {}
    if stats and stats.get("model_sha256") != model_fingerprint(model_dir):
        message = (
            f"{metrics_file} holds the reward statistics of another model than {model_dir}: "
            "run `dvc repro evaluate` for this one, or pass the metrics file evaluate wrote for it."
        )
        if required:
            raise UserError(message)
        print(f"note: {message} Going on without statistics or results.", file=sys.stderr)
        stats = {}
    if required and not stats:
        raise UserError(
            f"normalising needs the reward statistics of {model_dir}: run `dvc repro evaluate` "
            "(it writes them to reports/metrics.json), or pass that file."
        )
    return stats


def score_head(model: PreTrainedModel) -> torch.nn.Linear:
    """The final one-output linear layer (BERT's ``classifier``, GPT-2's ``score``)."""
    for name in ("score", "classifier"):
        head = getattr(model, name, None)
        head = getattr(head, "out_proj", head)  # RoBERTa's classifier is a small block
        if isinstance(head, torch.nn.Linear) and head.out_features == 1:
            return head
    raise UserError(f"{type(model).__name__}: no one-output score head found to normalise.")


def fold_into_head(model: PreTrainedModel, stats: dict[str, Any]) -> None:
    """Make the model emit (reward - mean) / std: weight / std, (bias - mean) / std."""
    head = score_head(model)
    if head.bias is None:
        raise UserError(
            f"export --normalize: the score head of {type(model).__name__} has no bias, so the "
            "mean cannot be folded into it (GPT-2, Llama and most decoders). Export without "
            "--normalize and standardise at use: RewardModelFunction(..., normalize=True), or "
            "(reward - mean) / std with the statistics in rewardlab.json."
        )
    with torch.no_grad():
        head.weight.div_(stats["std"])
        head.bias.sub_(stats["mean"]).div_(stats["std"])


def train_reward_stats(
    model: PreTrainedModel,
    pad_token_id: int,
    batch_size: int,
    model_dir: str | Path,
    pairs: int,
    seed: int,
) -> dict[str, Any]:
    """Evaluate's hook: score the responses (chosen and rejected) of ``pairs`` training pairs
    drawn with ``seed`` (all of them in a smaller split) and describe them.

    Why a sample: two numbers need no full pass, which cost the default run more time than
    scoring every evaluation set together."""
    from datasets import load_from_disk

    from rewardlab.core.paths import FEATURES_DIR
    from rewardlab.model.scoring import score_token_ids

    train = load_from_disk(str(FEATURES_DIR / "train"))
    chosen, rejected = list(train["chosen_ids"]), list(train["rejected_ids"])
    if len(chosen) > pairs:  # indices drawn here: Dataset.shuffle would write into data/features
        keep = np.random.default_rng(seed).choice(len(chosen), pairs, replace=False)
        chosen, rejected = [chosen[i] for i in keep], [rejected[i] for i in keep]
    rewards = score_token_ids(
        model, chosen + rejected, pad_token_id, batch_size, desc="Train rewards"
    )
    return reward_stats(np.asarray(rewards), model_dir, len(train))
