"""Stage 3, train: token ids → a LoRA reward model in ``models/reward_model/``.

TRL's ``RewardTrainer`` does the work (pairwise loss -log sigmoid(r_chosen - r_rejected), dynamic
padding); this module only wires params into it. The saved folder holds the adapter *and* every
module the base had to initialise (the score head), so a reload scores exactly as trained.
Curves go to ``reports/train/`` through dvclive, keyed by the trainer's global step.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, load_from_disk
from dvclive import Live
from transformers import TrainerCallback, set_seed
from trl import RewardConfig, RewardTrainer

from rewardlab.errors import UserError, run_main
from rewardlab.modeling import load_base_model, load_tokenizer, lora_config, write_metadata
from rewardlab.outputs import atomic_dir
from rewardlab.params import Params, params_from_argv
from rewardlab.paths import CHECKPOINT_DIR, FEATURES_DIR, MODEL_DIR, TRAIN_CURVES_DIR

TRAIN_COLUMNS = ["chosen_ids", "rejected_ids", "length"]
# The curves worth plotting; timings are left out because they differ on every run.
CURVES = ("loss", "accuracy", "margin", "learning_rate", "grad_norm")


class DvcLiveCurves(TrainerCallback):
    """Log the trainer's train/eval scalars to dvclive at the trainer's own global step."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.live.step = state.global_step
        for key, value in logs.items():
            split, name = ("eval", key[5:]) if key.startswith("eval_") else ("train", key)
            if name in CURVES:
                self.live.log_metric(f"{split}/{name}", value)
        self.live.make_summary()


def eval_subset(test: Dataset, pairs: int) -> Dataset:
    """The first ``pairs`` held-out pairs (all when 0): a fixed, cheap set for the curves."""
    return test.select(range(min(pairs, len(test)))) if pairs else test


def reward_config(params: Params, output_dir: Path) -> RewardConfig:
    """Map ``params.train`` onto ``RewardConfig``; anything not listed keeps TRL's default."""
    t = params.train
    return RewardConfig(
        output_dir=str(output_dir),
        seed=t.seed,
        data_seed=t.seed,
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
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        remove_unused_columns=False,  # keep featurize's `length` column for the sampler
        center_rewards_coefficient=t.center_rewards_coefficient,
        bf16=t.mixed_precision == "bf16",
        fp16=t.mixed_precision == "fp16",
        gradient_checkpointing=t.gradient_checkpointing,
        max_length=None,  # featurize already applied the token budget
        disable_dropout=False,  # keep LoRA dropout as configured
        report_to="none",  # dvclive is wired explicitly below, at the right step
    )


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    if not FEATURES_DIR.exists():
        raise UserError(f"{FEATURES_DIR} is missing: run `dvc repro featurize` first.")
    features = load_from_disk(str(FEATURES_DIR)).select_columns(TRAIN_COLUMNS)
    feature_stats = json.loads((FEATURES_DIR / "stats.json").read_text())
    tokenizer = load_tokenizer(params.model)
    set_seed(params.train.seed)  # the fresh score head is drawn at load time
    model, fresh_modules = load_base_model(params.model, tokenizer)
    peft_config = lora_config(params.lora, model, fresh_modules)
    with atomic_dir(TRAIN_CURVES_DIR) as curves_dir, atomic_dir(MODEL_DIR) as model_dir:
        live = Live(str(curves_dir), dvcyaml=None, save_dvc_exp=False, report=None)
        trainer = RewardTrainer(
            model=model,
            args=reward_config(params, CHECKPOINT_DIR),
            train_dataset=features["train"],
            eval_dataset=eval_subset(features["test"], params.train.eval_pairs),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[DvcLiveCurves(live)],
        )
        trainer.train()
        live.end()
        trainer.save_model(str(model_dir))
        write_metadata(
            model_dir,
            {
                "model": params.model.model_dump(),
                "template": feature_stats["template"],
                "max_length": feature_stats["max_length"],
                "lora": params.lora.model_dump(),
                "train": params.train.model_dump(),
                "modules_to_save": fresh_modules,
                "versions": {
                    p: importlib.metadata.version(p)
                    for p in ("torch", "transformers", "trl", "peft")
                },
            },
        )
    print(f"train: saved {MODEL_DIR} after {trainer.state.global_step} steps")


if __name__ == "__main__":
    run_main(main)
