"""Training one recipe for ``rewardlab bench``: its ``RewardConfig``, a fresh LoRA, the clock.

Every recipe trains a deep copy of the same base, with the same seed and LoRA initialisation;
what differs is the recipe's ``RewardConfig`` (``recipe_args``) and the overrides of a lever.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerCallback,
    set_seed,
)
from transformers.pytorch_utils import Conv1D
from trl import RewardConfig, RewardTrainer

from rewardlab.core import devices
from rewardlab.core.params import Params
from rewardlab.model import prefix_sharing
from rewardlab.model.loading import disable_dropout, lora_config
from rewardlab.model.scoring import score_token_ids
from rewardlab.model.training import packs, reward_config, trainer_kind, use_attention
from rewardlab.tools import bench_profile
from rewardlab.tools.throughput import MicroBatchClock

SEED = 42


def recipe_args(
    recipe: str, params: Params, max_length: int, out: str, packed: bool = False
) -> RewardConfig:
    """Each recipe's ``RewardConfig``; what is not named keeps the library's default.
    ``packed``: this repo's recipe packs pairs into rows (then in random order, as in train)."""
    if recipe == "tutorial":
        args = RewardConfig(
            out,
            per_device_train_batch_size=3,
            gradient_accumulation_steps=8,
            learning_rate=1.41e-5,
            pad_to_multiple_of=max_length,  # = its tokenizer(..., padding="max_length")
            max_length=max_length,
            activation_checkpointing=False,  # gradient checkpointing, as transformers 5 calls it
            disable_dropout=False,
            bf16=False,
        )
    elif recipe == "trl":
        # TRL's defaults include bf16; without a GPU, TRL asks for use_cpu to keep it. Where bf16
        # is emulated it would crawl, and a user would switch it off: so does the bench.
        # TRL's gradient_checkpointing=True default is passed under transformers 5's name, which
        # the old one only aliases (with a FutureWarning).
        args = RewardConfig(
            out,
            use_cpu=not torch.cuda.is_available(),
            bf16=devices.native_bf16(),
            activation_checkpointing=True,
        )
    else:
        args = reward_config(params, Path(out), packed)
    args.num_train_epochs, args.max_steps = 1, -1
    args.set_evaluate("no")  # in-training evaluation would land inside the timed steps
    args.set_save("no")
    args.include_num_input_tokens_seen = "non_padding"
    return args


@dataclass(frozen=True)
class Bench:
    """What every measurement shares: tokenizer, this repo's params, the data, the options."""

    tokenizer: PreTrainedTokenizerBase
    params: Params
    data: dict[str, Any]
    opts: argparse.Namespace
    bf16: bool  # whether bf16 is native here, so worth measuring


def accuracy(model: PreTrainedModel, test: Dataset, pad_token_id: int) -> float:
    """Share of held-out pairs with reward(chosen) > reward(rejected); ties count as losses."""
    model.eval()
    rewards = score_token_ids(model, [*test["chosen_ids"], *test["rejected_ids"]], pad_token_id)
    n = len(test)
    return sum(c > r for c, r in zip(rewards[:n], rewards[n:], strict=True)) / n


def frozen_in_bf16(model: torch.nn.Module) -> Callable[[], None]:
    """Cast the frozen matmul weights of a peft model to bf16 once; return what puts them back.

    Under bf16 autocast every Linear casts its fp32 weight to bf16 on every forward, the same
    rounding each time: cast once, the matmuls get the same bf16 operands, minus the copies
    (``--profile``). What trains (LoRA, the score head) stays fp32. Done after peft wrapped the
    model, which would otherwise create LoRA's weights in the base layer's dtype. Put back
    before scoring in fp32.
    """
    kept = []
    for module in model.modules():
        frozen = not any(p.requires_grad for p in module.parameters())
        if isinstance(module, torch.nn.Linear | Conv1D) and frozen:
            tensors = dict(module.named_parameters(recurse=False))
            kept.append((tensors, {key: p.data for key, p in tensors.items()}))
            for p in tensors.values():
                p.data = p.data.to(torch.bfloat16)

    def restore() -> None:
        for tensors, data in kept:
            for key, p in tensors.items():
                p.data = data[key]

    return restore


def train_once(bench: Bench, recipe: str, base, fresh, overrides: dict, clock: TrainerCallback):
    """Train ``recipe`` (plus ``overrides``) on a copy of ``base``; the trainer and its args."""
    model, params, data = copy.deepcopy(base), bench.params, bench.data
    overrides = dict(overrides)
    frozen_bf16 = overrides.pop("frozen_bf16", False)
    sharing = overrides.pop("prefix_sharing", params.train.prefix_sharing)
    packing = overrides.pop("packing", params.train.packing)
    attention = overrides.pop("attention", None)  # a lever: the other kernel
    lora = params.lora.model_copy(
        update={"dropout": overrides.pop("lora_dropout", params.lora.dropout)}
    )
    base_dropout = overrides.pop("base_dropout", not params.train.disable_base_dropout)
    if recipe == "rewardlab" and not base_dropout:
        disable_dropout(model)  # as train.py does: the base's dropout off, LoRA's kept
    # This repo's recipe shares prefixes and packs where train.prefix_sharing and train.packing
    # say so, and draws its batches in the order that implies, as train.py does.
    trainer_class, collator = RewardTrainer, None
    if recipe == "rewardlab":
        pad = bench.tokenizer.pad_token_id
        trainer_class, collator = trainer_kind(sharing, model, pad, packing)
    with tempfile.TemporaryDirectory() as out:
        positions = model.config.max_position_embeddings  # the tutorial pads to these
        args = recipe_args(recipe, params, positions, out, packs(collator))
        for key, value in overrides.items():
            setattr(args, key, value)
        if recipe == "rewardlab":  # as train.py resolves train.attention, for this precision
            setting = attention or params.train.attention
            precision = "bf16" if args.bf16 else "fp32"
            use_attention(setting, precision, model, data["stats"]["max_length"])
        elif attention:
            model.set_attn_implementation(attention)
        train_dataset = data["train"]
        if collator is not None:  # as train.py does: grouped by the width of the shared rows
            train_dataset = prefix_sharing.with_shared_lengths(train_dataset)
        set_seed(SEED)  # the same LoRA initialisation for every recipe
        trainer = trainer_class(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=train_dataset,
            processing_class=bench.tokenizer,
            peft_config=lora_config(lora, model, fresh),
            callbacks=[clock],
        )
        trainer.remove_callback(PrinterCallback)
        restore = frozen_in_bf16(trainer.model) if frozen_bf16 else None
        if isinstance(clock, MicroBatchClock):
            trainer.data_collator = clock.counting(trainer.data_collator)
        if isinstance(clock, bench_profile.StepProfiler):
            bench_profile.clip_labelled(trainer.accelerator)
        trainer.train()
    if restore is not None:
        restore()
    # Under bf16, accelerate wrapped the model's forward in autocast; scoring must not inherit it.
    trainer.model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    return trainer, args


def train_recipe(
    bench: Bench, recipe: str, base, fresh, overrides: dict, with_accuracy: bool
) -> tuple[dict[str, Any], PreTrainedModel]:
    """Time ``recipe`` on ``base``; with ``with_accuracy``, its accuracy after all ``--pairs``.

    A run cut short by ``--max-seconds`` is finished untimed for the accuracy, so every recipe
    is judged after the same pairs. The tutorial's is finished without its padding to the
    maximum: attention masks hide pads, so padding changes the speed and not the math
    (``test_bench`` checks the rewards agree), and the finish takes seconds instead of hours.
    """
    opts, pool = bench.opts, len(bench.data["train"])
    clock = MicroBatchClock(opts.warmup, opts.repeats, opts.max_seconds)
    trainer, args = train_once(bench, recipe, base, fresh, overrides, clock)
    stats = clock.rates(args.per_device_train_batch_size, pool)
    stats["precision"] = "bf16" if args.bf16 else "fp32"
    stats["attention"] = prefix_sharing.model_config(trainer.model)._attn_implementation
    if getattr(trainer, "sharing", None):  # what prefix sharing (and packing) did
        counts = trainer.sharing
        stats["prefix_sharing"] = {
            **counts,
            "packing": trainer.packing,
            "tokens_saved": 1 - counts["tokens"] / max(1, counts["two_sequence_tokens"]),
        }
    if with_accuracy:
        if stats["pairs_trained"] < pool:
            unpadded = {**overrides, "pad_to_multiple_of": None}
            untimed = MicroBatchClock(0, 1, float("inf"))
            trainer, _ = train_once(bench, recipe, base, fresh, unpadded, untimed)
            stats["accuracy_from"] = "untimed run without padding to the maximum"
        test, pad = bench.data["test"], bench.tokenizer.pad_token_id
        stats["accuracy"] = accuracy(trainer.model, test, pad)
        stats["accuracy_after_pairs"] = pool
    return stats, trainer.model
