"""Stage 3, train: token ids → a LoRA reward model in ``models/reward_model/``.

TRL's ``RewardTrainer`` does the work (pairwise loss -log sigmoid(r_chosen - r_rejected), dynamic
padding); this module only wires params into it. The saved folder holds the adapter *and* every
module the base had to initialise (the score head), so a reload scores exactly as trained.
Curves go to ``reports/train/`` through dvclive, keyed by the trainer's global step.

Interruptions: SIGINT or SIGTERM during training finishes the current step, saves a checkpoint in
``models/checkpoints/`` and exits 130 / 143 without moving any output into place. The next run
continues from the newest complete checkpoint when ``train.resume`` is true (the default) and the
checkpoint was made from the same params, features, code and library versions; the trainer
restores the optimizer, scheduler and RNG states with it, so on CPU the result is bit-identical
to an uninterrupted run. Checkpoints of any other run are deleted before training starts, and
all are deleted once a run completes: they exist only to resume.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from accelerate import PartialState
from datasets import Dataset, load_from_disk
from dvclive import Live
from transformers import TrainerCallback, enable_full_determinism, set_seed
from trl import RewardConfig, RewardTrainer

from rewardlab import modeling
from rewardlab.card import model_card
from rewardlab.contract import check_contract, pin_tokenizer
from rewardlab.devices import resolve_precision
from rewardlab.errors import StageInterrupted, UserError, run_main
from rewardlab.modeling import (
    disable_dropout,
    load_base_model,
    load_tokenizer,
    lora_config,
    portable_name,
    write_metadata,
)
from rewardlab.outputs import atomic_dir, write_json
from rewardlab.params import Params, params_from_argv
from rewardlab.paths import (
    CHECKPOINT_DIR,
    FEATURES_DIR,
    MODEL_DIR,
    TRAIN_CURVES_DIR,
    repo_relative,
)

TRAIN_COLUMNS = ["chosen_ids", "rejected_ids", "length"]


def train_columns(available: list[str]) -> list[str]:
    """What the trainer reads: the ids, the lengths, and per-pair margins when the data has them
    (``RewardTrainer`` subtracts a ``margin`` column inside its loss)."""
    return TRAIN_COLUMNS + (["margin"] if "margin" in available else [])


# The curves worth plotting; timings are left out because they differ on every run.
CURVES = ("loss", "accuracy", "margin", "learning_rate", "grad_norm")
RUN_FILE = "run.json"  # which run the checkpoints beside it belong to
LAUNCHED = "REWARDLAB_LAUNCHED"
LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate")


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


def reward_config(params: Params, output_dir: Path) -> RewardConfig:
    """Map ``params.train`` onto ``RewardConfig``; anything not listed keeps TRL's default."""
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
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
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


def run_fingerprint(params: Params) -> dict:
    """What a checkpoint must share with this run to be resumed from."""
    code = hashlib.sha256()
    for module_file in (__file__, modeling.__file__):
        code.update(Path(module_file).read_bytes())
    return {
        "params": {
            "model": params.model.model_dump(),
            "lora": params.lora.model_dump(),
            "train": params.train.model_dump(exclude={"resume"}),
        },
        "features": _tree_digest(FEATURES_DIR),
        "code": code.hexdigest(),
        "versions": {p: importlib.metadata.version(p) for p in LIBRARIES},
    }


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0".encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* checkpoint: transformers writes ``trainer_state.json`` last."""
    complete = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def resume_point(params: Params, fingerprint: dict) -> Path | None:
    """The checkpoint to continue from, or None once the checkpoints of other runs are gone."""
    run_file = CHECKPOINT_DIR / RUN_FILE
    latest = None
    if params.train.resume and run_file.is_file():
        try:
            same_run = json.loads(run_file.read_text()) == fingerprint
        except json.JSONDecodeError:
            same_run = False
        latest = latest_checkpoint(CHECKPOINT_DIR) if same_run else None
    if latest is None:
        if any(CHECKPOINT_DIR.glob("checkpoint-*")):
            why = "train.resume is false" if not params.train.resume else "another run made them"
            print(f"train: deleting the checkpoints in {CHECKPOINT_DIR} ({why}); starting over")
        shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
        write_json(run_file, fingerprint)
        return None
    for partial in CHECKPOINT_DIR.glob("checkpoint-*"):  # a save cut short by a kill
        if not (partial / "trainer_state.json").is_file():
            shutil.rmtree(partial)
    return latest


def run(params: Params, callbacks: Sequence[TrainerCallback] = ()) -> None:
    """Train (or resume) and save the model and curves; ``callbacks`` join the trainer's."""
    if not FEATURES_DIR.exists():
        raise UserError(f"{FEATURES_DIR} is missing: run `dvc repro featurize` first.")
    # Under `accelerate launch` every process trains, but only the main one touches the files.
    processes = PartialState(cpu=not torch.cuda.is_available())
    main_process = processes.is_main_process
    with processes.main_process_first():
        if main_process:
            resume_from = resume_point(params, run_fingerprint(params))
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
    peft_config = lora_config(params.lora, model, fresh_modules)
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
        trainer = RewardTrainer(
            model=model,
            args=reward_config(params, CHECKPOINT_DIR),
            train_dataset=features["train"],
            eval_dataset=eval_subset(features["test"], params.train.eval_pairs),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[*curves, stopper, *callbacks],
        )
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
            "modules_to_save": fresh_modules,
            "versions": {p: importlib.metadata.version(p) for p in LIBRARIES},
        }
        if "rendering" in feature_stats:
            metadata["rendering"] = feature_stats["rendering"]
        write_metadata(model_dir, metadata)
        # The tokenization contract travels with the model (rewardlab.contract), proven first.
        pin_tokenizer(tokenizer, metadata)
        check_contract(tokenizer, metadata)
        tokenizer.save_pretrained(model_dir)
        # peft's card is an empty template; this one says what the pipeline knows.
        (model_dir / "README.md").write_text(model_card(metadata, None, str(MODEL_DIR), False))
    shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
    print(f"train: saved {MODEL_DIR} after {state.global_step} steps in {precision(params)}")


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
