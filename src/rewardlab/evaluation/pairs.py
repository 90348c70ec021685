"""Scoring the pairs of a set with the trained model and with the untrained base it started from,
into one frame per set: both models' rewards, both sides' lengths, the category."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from rewardlab.core.params import ModelParams
from rewardlab.data.rendering import response_chars
from rewardlab.model.loading import load_base_model
from rewardlab.model.scoring import score_pair_ids


def untrained_model(
    metadata: dict[str, Any], tokenizer: PreTrainedTokenizerBase
) -> PreTrainedModel:
    """The base with the very score head training started from (train seeds it the same way)."""
    set_seed(metadata["train"]["seed"])
    model, _ = load_base_model(ModelParams.model_validate(metadata["model"]), tokenizer)
    return model.eval()


def score_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    test: Dataset,
    batch_size: int,
    prefix_sharing: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Rewards of the chosen and the rejected side of every pair; ``prefix_sharing`` (the
    model's metadata says so): one row per pair, the prompt computed once."""
    # Both sides in one call: longer length-sorted batches, one pass over the model.
    chosen, rejected = score_pair_ids(
        model,
        test["chosen_ids"],
        test["rejected_ids"],
        tokenizer.pad_token_id,
        batch_size,
        shared=prefix_sharing,
    )
    return np.asarray(chosen), np.asarray(rejected)


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
