"""Interrupt and resume: a signal mid-training saves a checkpoint and writes no model; the next
run continues from it and ends bit-identical to a run that was never interrupted (CPU)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from transformers import TrainerCallback

from conftest import toy_pairs, write_jsonl, write_params
from rewardlab.core.errors import StageInterrupted
from rewardlab.core.params import load_params
from rewardlab.model.checkpoints import latest_checkpoint
from rewardlab.stages import featurize, prepare, train

MAX_STEPS = 40  # long enough that a signal sent after the first log lands mid-run
TRAIN = {
    "max_steps": MAX_STEPS,
    "per_device_train_batch_size": 4,
    "logging_steps": 1,
    "eval_steps": 5,
    "eval_pairs": 4,
    "save_steps": 1000,  # only the signal saves a checkpoint
}
OUTPUTS = ("models/reward_model", "reports/train")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every run here uses one thread (also the subprocess): bitwise equality assumes the same
    thread count, and on a busy 2-core machine one thread is ~10x faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def featurized(tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("featurized")
    source = write_jsonl(folder / "pairs.jsonl", toy_pairs(40))
    write_params(
        folder,
        {
            "data": {"source": str(source)},
            "model": {"name_or_path": str(tiny_gpt2)},
            "featurize": {"max_length": 48},
            "train": TRAIN,
        },
    )
    with contextlib.chdir(folder):
        for stage in (prepare, featurize):
            stage.main(["--params", "params.yaml"])
    return folder


def copy_of(featurized: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(featurized, tmp_path / name))


def set_train_params(folder: Path, **values: object) -> None:
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["train"].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def train_in(folder: Path, *callbacks: TrainerCallback) -> None:
    with contextlib.chdir(folder):
        train.run(load_params("params.yaml"), callbacks)


@pytest.fixture(scope="module")
def uninterrupted(featurized: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_of(featurized, tmp_path_factory.mktemp("uninterrupted"), "run")
    train_in(folder)
    return folder


def same_outputs(a: Path, b: Path) -> None:
    for name in (
        "models/reward_model/adapter_model.safetensors",
        "reports/train/metrics.json",
        "reports/train/plots/metrics/train/loss.tsv",
        "reports/train/plots/metrics/eval/loss.tsv",
        "reports/train/plots/metrics/eval/accuracy.tsv",
    ):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def no_outputs(folder: Path) -> None:
    for output in OUTPUTS:
        path = folder / output
        assert not path.exists(), output
        assert not list(path.parent.glob(f".{path.name}.*")), f"temporary beside {output}"


class SignalAt(TrainerCallback):
    """Send a real signal to this process while the given step (1-based) runs."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step - 1:
            os.kill(os.getpid(), self.signum)


def test_sigint_to_the_command_saves_a_checkpoint_and_resume_matches(
    featurized, uninterrupted, tmp_path
):
    folder = copy_of(featurized, tmp_path, "run")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        ["rewardlab", "train"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    first_log = "reports/.train.*.tmp/plots/metrics/train/loss.tsv"
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(first_log)) and process.poll() is None:
            assert time.monotonic() < deadline, "training never logged a step"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()  # a no-op once it has exited

    assert process.returncode == 130, stderr.decode()
    assert "stopped by SIGINT" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    no_outputs(folder)
    checkpoint = latest_checkpoint(folder / "models/checkpoints")
    assert checkpoint is not None
    stopped_at = int(checkpoint.name.split("-")[1])
    assert 1 <= stopped_at < MAX_STEPS

    train_in(folder)  # train.resume is on by default
    same_outputs(uninterrupted, folder)
    assert not (folder / "models/checkpoints").exists(), "a finished run clears its checkpoints"


def test_sigterm_mid_run_resumes_from_the_step_it_stopped_at(
    featurized, uninterrupted, tmp_path, capsys
):
    folder = copy_of(featurized, tmp_path, "run")
    with pytest.raises(StageInterrupted, match="stopped by SIGTERM") as stopped:
        train_in(folder, SignalAt(7, signal.SIGTERM))
    assert stopped.value.exit_code == 143
    no_outputs(folder)
    assert latest_checkpoint(folder / "models/checkpoints").name == "checkpoint-7"

    train_in(folder)
    assert "resuming from models/checkpoints/checkpoint-7" in capsys.readouterr().out
    same_outputs(uninterrupted, folder)


def test_checkpoints_of_other_params_are_deleted_not_resumed(featurized, tmp_path, capsys):
    folder = copy_of(featurized, tmp_path, "run")
    with pytest.raises(StageInterrupted):
        train_in(folder, SignalAt(3, signal.SIGTERM))
    set_train_params(folder, learning_rate=0.002)
    train_in(folder)
    out = capsys.readouterr().out
    assert "another run made them" in out
    assert "resuming" not in out


def test_resume_false_starts_over(featurized, uninterrupted, tmp_path, capsys):
    folder = copy_of(featurized, tmp_path, "run")
    set_train_params(folder, resume=False)
    with pytest.raises(StageInterrupted, match="next run starts over"):
        train_in(folder, SignalAt(3, signal.SIGTERM))
    train_in(folder)
    out = capsys.readouterr().out
    assert "train.resume is false" in out
    same_outputs(uninterrupted, folder)


def test_the_saved_model_holds_nothing_that_must_be_unpickled(uninterrupted):
    names = {p.name for p in (uninterrupted / "models/reward_model").iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "rewardlab.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
