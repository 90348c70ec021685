"""A trained reward model as the reward function of a policy trainer (TRL's GRPO, RLOO, ...).

    from rewardlab.rlhf import RewardModelFunction
    trainer = GRPOTrainer(model=policy, reward_funcs=RewardModelFunction("rm"), ...)

TRL calls a reward function as ``f(prompts=..., completions=..., **columns) -> list[float]``,
with plain strings or, for conversational datasets, lists of ``{"role", "content"}`` messages
(trl 1.16, ``GRPOTrainer._calculate_rewards``). TRL's own path-based loading joins plain prompts
and completions without template or special tokens and never truncates (README, "Use the reward
model for RLHF"); this callable tokenizes exactly as evaluate does instead -- the training
template or chat template, the special tokens, truncation to the trained length, right padding
whatever the tokenizer's ``padding_side``, length-sorted batches, no gradients -- through
:mod:`rewardlab.model.scoring`, so its rewards are ``rewardlab score``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardlab.core.paths import METRICS_FILE
from rewardlab.data.rendering import Message
from rewardlab.model.loading import load_reward_model
from rewardlab.model.normalization import stats_for
from rewardlab.model.scoring import Precision, encode_responses, score_token_ids


class RewardModelFunction:
    """Rewards of a rewardlab model folder (adapter or export) for prompt/completion batches.

    ``normalize``: return (reward - mean) / std with the training-split statistics (the
    folder's own, or evaluate's in ``metrics_file`` when measured on these weights); an export
    made with ``--normalize`` is standardised already and is returned as is.
    """

    def __init__(
        self,
        model_dir: str | Path,
        normalize: bool = False,
        batch_size: int = 64,
        device: str | None = None,
        precision: Precision = "fp32",
        metrics_file: str | Path | None = METRICS_FILE,
    ) -> None:
        self.model, self.tokenizer, self.metadata = load_reward_model(model_dir)
        if device is not None:
            self.model.to(device)
        self.batch_size, self.precision = batch_size, precision
        self.shift, self.scale = 0.0, 1.0
        if normalize and not self.metadata.get("normalized"):
            metrics = Path(metrics_file) if metrics_file else None
            stats = stats_for(model_dir, self.metadata, metrics, required=True)
            self.shift, self.scale = stats["mean"], stats["std"]
        # TRL names each reward function in its logs by ``__name__``.
        self.__name__ = f"reward_{Path(model_dir).name}"

    def __call__(
        self,
        prompts: Sequence[str | Sequence[Message]],
        completions: Sequence[str | Sequence[Message]],
        **kwargs: Any,
    ) -> list[float]:
        """One reward per (prompt, completion); other dataset columns TRL passes are ignored."""
        sequences = encode_responses(self.tokenizer, self.metadata, prompts, completions)
        rewards = score_token_ids(
            self.model,
            sequences,
            self.tokenizer.pad_token_id,
            self.batch_size,
            desc="Rewards",
            precision=self.precision,
        )
        return [(reward - self.shift) / self.scale for reward in rewards]
