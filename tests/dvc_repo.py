"""Temporary git + DVC repositories holding this project's pipeline, for tests that run the real
``dvc`` CLI on a tiny config.

Stage commands run with one thread (OMP_NUM_THREADS=1): on a busy 2-core machine that is many
times faster than torch's default, and a fixed thread count is part of what makes CPU runs
bitwise reproducible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from conftest import REPO_ROOT, write_params

# The default pipeline (builtin pairs, builtin:minilm, LoRA), shrunk to seconds. Without the
# default evaluation set: scoring its 184 pairs with MiniLM would add ~40 s to every evaluate
# here (2 busy cores); test_evalsets_pipeline.py scores it with the tiny GPT-2.
TINY = {
    "data": {"num_pairs": 120},
    "featurize": {"max_length": 64},
    "train": {
        "max_steps": 2,
        "per_device_train_batch_size": 8,
        "logging_steps": 1,
        "eval_steps": 2,  # one in-training evaluation, at the end: each costs MiniLM ~2 s
    },
    "evaluate": {"sets": {}, "reward_stats_pairs": 16},  # two numbers; a sample does
}
REPO_FILES = [
    "src",
    "dvc.yaml",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "pyproject.toml",
    "data/eval",  # the default evaluate.sets
]


def env(first_on_path: Path | None = None) -> dict[str, str]:
    """The environment stage commands see: the venv's `rewardlab` and `dvc`, one thread."""
    path = [str(first_on_path)] if first_on_path else []
    path += [str(Path(sys.executable).parent), os.environ["PATH"]]
    return {**os.environ, "PATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}


def run(
    repo: Path, *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=repo, env=env(), capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def dvc(
    repo: Path, *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "dvc", *args, check=check, timeout=timeout)


def start_dvc(repo: Path, *args: str, first_on_path: Path | None = None, **popen: object):
    """Start ``dvc`` without waiting for it (a ``subprocess.Popen``); output is captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        env=env(first_on_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def make_repo(folder: Path, overrides: dict) -> Path:
    """Copy the pipeline into ``folder``, write params with ``overrides``, commit it."""
    for name in REPO_FILES:
        source, target = REPO_ROOT / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    write_params(folder, overrides)
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    run(folder, "git", "init", "-q", "-b", "main")
    run(folder, *git, "add", "-A")
    run(folder, *git, "commit", "-qm", "tiny")
    return folder


class DefaultPipeline(NamedTuple):
    """The default pipeline on ``TINY``, reproduced from scratch in two folders side by side."""

    repo: Path  # test_pipeline.py goes on to change params in it, and restores them
    twin: Path  # never touched after its `dvc repro`
    output: str  # what `dvc repro` printed in ``repo``
    lock: str  # ``repo``'s dvc.lock and metrics right after it, before any test changed it
    metrics: bytes


def reproduce_default_pipeline(folder: Path) -> DefaultPipeline:
    """Run `dvc repro` from scratch in two fresh repositories at once.

    One run is what test_pipeline.py works on; the second, in another folder, is what its
    determinism test compares it with. Side by side they cost little more than one: each stage
    runs on one thread, and most of a stage's time goes to importing torch and friends.
    """
    repo, twin = (make_repo(folder / name, TINY) for name in ("repo", "twin"))
    outputs = []
    for process in [start_dvc(path, "repro") for path in (repo, twin)]:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, f"{out}\n{err}"
        outputs.append(out + err)
    metrics = (repo / "reports/metrics.json").read_bytes()
    return DefaultPipeline(repo, twin, outputs[0], (repo / "dvc.lock").read_text(), metrics)
