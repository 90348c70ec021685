"""What the train stage hands TRL: the ``RewardConfig`` built from params, the columns the trainer
reads, and the callbacks that log curves to dvclive and stop cleanly on a signal.

The benchmark builds its trainer from the same ``reward_config``, so it measures what train runs.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from datasets import Dataset
from dvclive import Live
from transformers import PreTrainedModel, TrainerCallback
from transformers.modeling_outputs import SequenceClassifierOutput
from trl import RewardConfig, RewardTrainer

from rewardlab.core.devices import resolve_precision
from rewardlab.core.errors import UserError
from rewardlab.core.params import Params
from rewardlab.model import packing, prefix_sharing

TRAIN_COLUMNS = ["chosen_ids", "rejected_ids", "length"]


def train_columns(available: list[str]) -> list[str]:
    """What the trainer reads: the ids, the lengths, and per-pair margins when the data has them
    (``RewardTrainer`` subtracts a ``margin`` column inside its loss)."""
    return TRAIN_COLUMNS + (["margin"] if "margin" in available else [])


# The curves worth plotting; timings are left out because they differ on every run.
CURVES = ("loss", "accuracy", "margin", "learning_rate", "grad_norm")


class DvcLiveCurves(TrainerCallback):
    """Log the trainer's train/eval scalars to dvclive at the trainer's own global step."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed trainer starts with the log history saved in its checkpoint: replay it, so
        # the curves hold every step, as if the run had never stopped.
        if state.is_world_process_zero and state.log_history:
            for logs in state.log_history:
                self._log(logs["step"], logs)
            self.live.make_summary()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self._log(state.global_step, logs)
        self.live.make_summary()

    def _log(self, step: int, logs: dict) -> None:
        self.live.step = step
        for key, value in logs.items():
            split, name = ("eval", key[5:]) if key.startswith("eval_") else ("train", key)
            if name in CURVES:
                self.live.log_metric(f"{split}/{name}", value)


class StopOnSignal(TrainerCallback):
    """SIGINT/SIGTERM while training: finish the step, save a checkpoint, stop training.

    Only the first signal is handled this way; the handlers in place before are restored at
    once, so a second Ctrl-C stops without waiting.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return
        previous = {s: signal.getsignal(s) or signal.SIG_DFL for s in self.SIGNALS}

        def handle(signum: int, frame: object) -> None:
            self.signum = signum
            for s, handler in previous.items():
                signal.signal(s, handler)

        for s in self.SIGNALS:
            signal.signal(s, handle)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def on_step_end(self, args, state, control, **kwargs):
        if self.signum is not None:
            control.should_save = True
            control.should_training_stop = True


def eval_subset(test: Dataset, pairs: int) -> Dataset:
    """The first ``pairs`` held-out pairs (all when 0): a fixed, cheap set for the curves."""
    return test.select(range(min(pairs, len(test)))) if pairs else test


def precision(params: Params) -> str:
    """``train.mixed_precision`` with ``auto`` decided for this machine."""
    return resolve_precision(params.train.mixed_precision)


# ``train.attention: auto`` trains eager up to this many tokens a side (``featurize.max_length``),
# where it was measured faster (builtin pairs, 128 a side: MiniLM 1.6-1.9x, GPT-2 1.2-1.3x). On
# 512-token multi-turn transcripts three runs gave 0.86-1.08x, no consistent gain, and eager's
# score matrices grow with the square of the row width: SDPA there (README, Throughput).
EAGER_MAX_LENGTH = 128


def attention(setting: str, mixed_precision: str, model: PreTrainedModel, max_length: int) -> str:
    """``train.attention`` for this model, training in ``mixed_precision`` on this machine on
    sequences of at most ``max_length`` tokens a side: ``auto`` is eager for bf16 autocast on a
    CPU with short sequences (SDPA's CPU backward is the slow part there), else the
    implementation the model loaded with."""
    if setting == "auto":
        cpu_bf16 = mixed_precision == "bf16" and not torch.cuda.is_available()
        if cpu_bf16 and max_length <= EAGER_MAX_LENGTH:
            return "eager"
        return model.config._attn_implementation or "eager"
    return setting


def use_attention(
    setting: str, mixed_precision: str, model: PreTrainedModel, max_length: int
) -> str:
    """Switch ``model`` to the attention ``train.attention`` asks for, before peft wraps it;
    return the implementation it now runs (the model metadata records it)."""
    implementation = attention(setting, mixed_precision, model, max_length)
    if implementation != model.config._attn_implementation:
        try:
            model.set_attn_implementation(implementation)
        except (ValueError, ImportError) as exc:
            raise UserError(
                f"train.attention = {setting!r}: {type(model).__name__} cannot run "
                f"{implementation!r} attention ({exc}). Set train.attention: auto."
            ) from None
    return implementation


def sampling_strategy(params: Params, packed: bool) -> str:
    """The order batches are drawn in: random where the run packs (packing, not grouping,
    cuts the padding: ``model/packing.py``), else length-grouped where ``group_by_length``."""
    return "group_by_length" if params.train.group_by_length and not packed else "random"


def reward_config(params: Params, output_dir: Path, packed: bool = False) -> RewardConfig:
    """Map ``params.train`` onto ``RewardConfig``; anything not listed keeps TRL's default.
    ``packed``: whether this run packs pairs into rows (``packs`` of its collator)."""
    t, mixed_precision = params.train, precision(params)
    return RewardConfig(
        output_dir=str(output_dir),
        seed=t.seed,
        data_seed=t.seed,
        full_determinism=t.full_determinism,
        learning_rate=t.learning_rate,
        num_train_epochs=t.num_train_epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_train_batch_size,
        per_device_eval_batch_size=t.per_device_eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay,
        lr_scheduler_type=t.lr_scheduler_type,
        logging_steps=t.logging_steps,
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        train_sampling_strategy=sampling_strategy(params, packed),
        remove_unused_columns=False,  # keep featurize's `length` column for the sampler
        center_rewards_coefficient=t.center_rewards_coefficient,
        bf16=mixed_precision == "bf16",
        fp16=mixed_precision == "fp16",
        # transformers 5 renamed it; the old name still works but warns (FutureWarning)
        activation_checkpointing=t.gradient_checkpointing,
        max_length=None,  # featurize already applied the token budget
        disable_dropout=False,  # keep LoRA dropout as configured
        report_to="none",  # dvclive is wired explicitly below, at the right step
        use_cpu=not torch.cuda.is_available(),  # also makes several CPU processes use gloo
    )


class PrefixSharingRewardTrainer(RewardTrainer):
    """TRL's ``RewardTrainer`` reading prefix-shared batches (``PrefixSharingCollator``).

    A shared batch is turned into the rewards a two-sequence forward would give, and TRL's own
    ``compute_loss`` does the rest (loss, margin, centring, metrics); a two-sequence batch (the
    collator's ``auto`` fallback) goes to TRL as it is; a row may hold several pairs
    (``train.packing``). ``sharing`` counts the training batches, tokens, and the pairs and rows
    of the shared batches of this process, for the stage's summary line; ``packing`` says
    whether its collator packs.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.packing = bool(getattr(self.data_collator, "pack", False))
        self.sharing = {
            "batches": 0,
            "shared": 0,
            "tokens": 0,
            "two_sequence_tokens": 0,
            "pairs": 0,
            "rows": 0,
        }

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        training = self.model.training
        if not prefix_sharing.is_shared(inputs):
            if training:
                tokens = inputs["input_ids"].numel()
                self._count(shared=False, tokens=tokens, two_sequence_tokens=tokens)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        shared = {key: inputs.pop(key) for key in prefix_sharing.SHARED_KEYS}
        if training:
            tokens, two = packing.token_counts(shared)
            self._count(shared=True, tokens=tokens, two_sequence_tokens=two)
            self.sharing["pairs"] += shared["chosen_at"].shape[0]
            self.sharing["rows"] += shared["segment_ids"].shape[0]
        # TRL counts the real tokens of the batch in ``attention_mask``.
        inputs["attention_mask"] = shared["segment_ids"] >= 0

        def forward(**_: object) -> SequenceClassifierOutput:
            return SequenceClassifierOutput(logits=prefix_sharing.shared_rewards(model, shared))

        return super().compute_loss(forward, inputs, return_outputs, num_items_in_batch)

    def _count(self, shared: bool, tokens: int, two_sequence_tokens: int) -> None:
        self.sharing["batches"] += 1
        self.sharing["shared"] += int(shared)
        self.sharing["tokens"] += tokens
        self.sharing["two_sequence_tokens"] += two_sequence_tokens


def trainer_kind(
    setting: str, model: PreTrainedModel, pad_token_id: int, packing_setting: str = "off"
) -> tuple[type[RewardTrainer], prefix_sharing.PrefixSharingCollator | None]:
    """The trainer class and collator for ``train.prefix_sharing`` and ``train.packing``:
    TRL's own, unchanged, where sharing is off (encoders), else the prefix-sharing pair of
    them, whose collator packs (``collator.pack``) where ``packing_setting`` resolves on."""
    shared = prefix_sharing.resolve(setting, model.config)
    if shared:
        try:
            prefix_sharing.score_head(model)
        except UserError:
            if setting == "on":
                raise
            shared = False  # auto: a head rewardlab cannot read per token
    packed = packing.resolve(packing_setting, shared)
    if not shared:
        return RewardTrainer, None
    collator = prefix_sharing.PrefixSharingCollator(
        pad_token_id, auto=setting == "auto", pack=packed
    )
    return PrefixSharingRewardTrainer, collator


def packs(collator: prefix_sharing.PrefixSharingCollator | None) -> bool:
    """Whether the run this collator trains packs several pairs into a row."""
    return collator is not None and collator.pack


def sharing_summary(counts: dict[str, int], packed: bool = False) -> str:
    """What prefix sharing did, in a few words: batches shared, pairs packed, tokens saved."""
    if not counts["batches"]:
        return "prefix sharing: no batch trained here"
    saved = 1 - counts["tokens"] / counts["two_sequence_tokens"]
    rows = f"packed {counts['pairs']} pairs into {counts['rows']} rows, " if packed else ""
    return (
        f"prefix sharing: {counts['shared']}/{counts['batches']} batches shared, "
        f"{rows}{saved:.0%} fewer tokens"
    )


def save_without_hub_lookup(model: PreTrainedModel) -> None:
    """Make every ``save_pretrained`` of this peft model (the trainer's checkpoints and the final
    save) skip peft's Hub request for the base's ``config.json``.

    peft asks the Hub to learn whether the vocabulary was resized (``save_embedding_layers`` =
    ``"auto"``): for the builtin base, whose adapter names its Hub id, that is a network request
    at every save, and a warning wherever the network is down. rewardlab never resizes
    embeddings, so the answer is always "no" and peft is told so instead of asking.
    """
    model.save_pretrained = functools.partial(model.save_pretrained, save_embedding_layers=False)
