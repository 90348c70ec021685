"""Stage 3, train: token ids → a LoRA reward model in ``models/reward_model/``.

TRL's ``RewardTrainer`` does the work (pairwise loss -log sigmoid(r_chosen - r_rejected), dynamic
padding); this module only wires params into it. The saved folder holds the adapter *and* every
module the base had to initialise (the score head), so a reload scores exactly as trained.
Curves go to ``reports/train/`` through dvclive, keyed by the trainer's global step. On a
decoder base (``train.prefix_sharing``) each pair is one sequence, the prompt computed once
(``model/prefix_sharing.py``), and several pairs share a row (``train.packing``,
``model/packing.py``; batches then come in random order); the last line says how many batches
were shared and into how many rows their pairs were packed.

Interruptions: SIGINT or SIGTERM during training finishes the current step, saves a checkpoint in
``models/checkpoints/`` and exits 130 / 143 without moving any output into place. The next run
continues from the newest complete checkpoint when ``train.resume`` is true (the default) and the
checkpoint was made from the same params, features, code and library versions; the trainer
restores the optimizer, scheduler and RNG states with it, so on CPU the result is bit-identical
to an uninterrupted run. Checkpoints of any other run are deleted before training starts, and
all are deleted once a run completes: they exist only to resume.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from accelerate import PartialState
from datasets import load_from_disk
from dvclive import Live
from transformers import TrainerCallback, enable_full_determinism, set_seed

from rewardlab.core.errors import StageInterrupted, UserError, run_main
from rewardlab.core.outputs import atomic_dir, write_json
from rewardlab.core.params import Params, params_from_argv
from rewardlab.core.paths import (
    CHECKPOINT_DIR,
    FEATURES_DIR,
    MODEL_DIR,
    TRAIN_CURVES_DIR,
    repo_relative,
)
from rewardlab.model import loading, packing, prefix_sharing, training
from rewardlab.model.card import model_card
from rewardlab.model.checkpoints import LIBRARIES, latest_checkpoint, resume_point, run_fingerprint
from rewardlab.model.contract import check_contract, pin_tokenizer
from rewardlab.model.loading import (
    disable_dropout,
    load_base_model,
    load_tokenizer,
    lora_config,
    portable_name,
    write_metadata,
)
from rewardlab.model.training import (
    DvcLiveCurves,
    StopOnSignal,
    eval_subset,
    packs,
    precision,
    reward_config,
    save_without_hub_lookup,
    sharing_summary,
    train_columns,
    trainer_kind,
    use_attention,
)

LAUNCHED = "REWARDLAB_LAUNCHED"
# Edits to these make an interrupted run's checkpoints another run's.
TRAINING_CODE = (
    __file__,
    training.__file__,
    loading.__file__,
    prefix_sharing.__file__,
    packing.__file__,
)


def run(params: Params, callbacks: Sequence[TrainerCallback] = ()) -> None:
    """Train (or resume) and save the model and curves; ``callbacks`` join the trainer's."""
    if not FEATURES_DIR.exists():
        raise UserError(f"{FEATURES_DIR} is missing: run `dvc repro featurize` first.")
    # Under `accelerate launch` every process trains, but only the main one touches the files.
    processes = PartialState(cpu=not torch.cuda.is_available())
    main_process = processes.is_main_process
    with processes.main_process_first():
        if main_process:
            resume_from = resume_point(params, run_fingerprint(params, TRAINING_CODE))
        else:  # the main process has already cleared or kept the checkpoints
            resume_from = latest_checkpoint(CHECKPOINT_DIR) if params.train.resume else None
    features = load_from_disk(str(FEATURES_DIR))
    features = features.select_columns(train_columns(features["train"].column_names))
    feature_stats = json.loads((FEATURES_DIR / "stats.json").read_text())
    tokenizer = load_tokenizer(params.model)
    # Seed before loading: the fresh score head is drawn at load time.
    (enable_full_determinism if params.train.full_determinism else set_seed)(params.train.seed)
    model, fresh_modules = load_base_model(params.model, tokenizer)
    if params.train.disable_base_dropout:
        disable_dropout(model)
    attention = use_attention(
        params.train.attention, precision(params), model, feature_stats["max_length"]
    )
    peft_config = lora_config(params.lora, model, fresh_modules)
    trainer_class, collator = trainer_kind(
        params.train.prefix_sharing, model, tokenizer.pad_token_id, params.train.packing
    )
    packed = packs(collator)  # then batches come in random order, packed into rows
    if collator is not None:  # grouped (when not packed) by the width of their shared rows
        features["train"] = prefix_sharing.with_shared_lengths(features["train"])
    stopper = StopOnSignal()
    outputs = (
        (atomic_dir(TRAIN_CURVES_DIR), atomic_dir(MODEL_DIR))
        if main_process
        else (nullcontext(), nullcontext())
    )
    with outputs[0] as curves_dir, outputs[1] as model_dir:
        curves = []
        if main_process:
            live = Live(str(curves_dir), dvcyaml=None, save_dvc_exp=False, report=None)
            curves = [DvcLiveCurves(live)]
        trainer = trainer_class(
            model=model,
            args=reward_config(params, CHECKPOINT_DIR, packed),
            data_collator=collator,  # None: TRL's, two sequences per pair
            train_dataset=features["train"],
            eval_dataset=eval_subset(features["test"], params.train.eval_pairs),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[*curves, stopper, *callbacks],
        )
        save_without_hub_lookup(trainer.model)
        if resume_from is not None:
            print(f"train: resuming from {resume_from}")
        with stopper.installed():
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        state = trainer.state
        if stopper.signum is not None and state.global_step < state.max_steps:
            raise StageInterrupted(_interrupted_message(params, stopper.signum), stopper.signum)
        trainer.save_model(str(model_dir) if main_process else None)  # writes on main only
        if not main_process:
            return
        live.end()
        # dvclive keeps keys in first-logged order, which a resumed run replays differently.
        write_json(curves_dir / "metrics.json", live.summary)
        # The trainer also pickles its arguments there; rewardlab.json records them as JSON, and
        # a model folder should hold nothing that must be unpickled to be read.
        (model_dir / "training_args.bin").unlink(missing_ok=True)
        _sort_target_modules(model_dir / "adapter_config.json")
        metadata = {
            "model": params.model.model_dump(),
            "base_model": portable_name(params.model.name_or_path),
            "data": {"source": repo_relative(params.data.source), "split": params.data.split},
            "template": feature_stats["template"],
            "max_length": feature_stats["max_length"],
            "lora": params.lora.model_dump(),
            "train": params.train.model_dump(),
            "precision": precision(params),  # what auto became on this machine
            "prefix_sharing": collator is not None,  # evaluate and score share prefixes too
            "packing": packed,
            "attention": attention,  # training's kernel; scoring keeps the model's default
            "modules_to_save": fresh_modules,
            "versions": {p: importlib.metadata.version(p) for p in LIBRARIES},
        }
        for key in ("rendering", "tokenization"):  # scoring renders and tokenizes alike
            if key in feature_stats:
                metadata[key] = feature_stats[key]
        write_metadata(model_dir, metadata)
        # The tokenization contract travels with the model (rewardlab.model.contract), proven first.
        pin_tokenizer(tokenizer, metadata)
        check_contract(tokenizer, metadata)
        tokenizer.save_pretrained(model_dir)
        # peft's card is an empty template; this one says what the pipeline knows.
        (model_dir / "README.md").write_text(model_card(metadata, None, str(MODEL_DIR), False))
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
    shared = f"; {sharing_summary(trainer.sharing, packed)}" if collator is not None else ""
    print(
        f"train: saved {MODEL_DIR} after {state.global_step} steps in {precision(params)}, "
        f"{attention} attention{shared}"
    )


def _sort_target_modules(config_file: Path) -> None:
    """peft keeps target_modules in a set and writes it in hash order, which changes from one
    process to the next (PYTHONHASHSEED); sorted, identical runs write identical bytes."""
    config = json.loads(config_file.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True))


def _interrupted_message(params: Params, signum: int) -> str:
    checkpoint = latest_checkpoint(CHECKPOINT_DIR)
    then = (
        "Run the stage again (`dvc repro` or `rewardlab train`) to continue from it."
        if params.train.resume
        else "Set train.resume: true to continue from it; as it stands the next run starts over."
    )
    return (
        f"train: stopped by {signal.Signals(signum).name}; saved {checkpoint}, "
        f"no model written. {then}"
    )


def accelerate_command(params: Params, argv: Sequence[str]) -> list[str]:
    """``accelerate launch`` for this stage; a config file, when given, decides the topology."""
    t = params.train
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if t.accelerate_config:
        command += ["--config_file", t.accelerate_config]
    else:
        command += ["--num_processes", str(t.num_processes)]
        mixed_precision = precision(params)
        command += ["--mixed_precision", {"fp32": "no"}.get(mixed_precision, mixed_precision)]
        if t.num_processes > 1:  # torchrun under the hood; without CUDA, CPU processes on gloo
            command += ["--multi_gpu"]
        elif not torch.cuda.is_available():
            command += ["--cpu"]
    return [*command, "-m", "rewardlab.stages.train", *argv]


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    params = params_from_argv(argv, __doc__)
    if params.train.launcher == "accelerate" and LAUNCHED not in os.environ:
        env = {**os.environ, LAUNCHED: "1"}  # the launched processes must not launch again
        sys.exit(subprocess.call(accelerate_command(params, argv), env=env))
    run(params)
    processes = PartialState()
    if processes.use_distributed:
        # Every process waits for the main one to finish writing, then leaves the group
        # together: a process that exits with the gloo group alive aborts (SIGABRT).
        processes.wait_for_everyone()
        processes.destroy_process_group()


if __name__ == "__main__":
    run_main(main)
