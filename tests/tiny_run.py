"""A finished pipeline run on the tiny random GPT-2, built once per test session.

The score, compare, export and report tests all read the same run (and never modify it), so it
is trained once, in a temporary folder, however many test modules ask for it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO_ROOT, toy_pairs, write_jsonl, write_params

TINY_RUN = {
    "featurize": {"max_length": 48},
    "train": {
        "max_steps": 6,
        "per_device_train_batch_size": 4,
        "logging_steps": 2,
        "eval_steps": 2,
    },
    "evaluate": {"batch_size": 5},
}
_runs: dict[str, Path] = {}


def finished_run(
    factory: pytest.TempPathFactory,
    base_model: Path,
    train: dict | None = None,
    featurize: dict | None = None,
) -> Path:
    """Folder holding data/, models/reward_model and reports/ of a complete tiny run.

    ``train`` and ``featurize`` override those params; each distinct set is its own run.
    """
    key = json.dumps([str(base_model), train, featurize], sort_keys=True)
    if key not in _runs:
        from rewardlab.stages import evaluate, prepare
        from rewardlab.stages import featurize as featurize_stage
        from rewardlab.stages import train as train_stage

        folder = factory.mktemp("tiny-run")
        shutil.copytree(REPO_ROOT / "data/eval", folder / "data/eval")  # the default evaluate.sets
        source = write_jsonl(folder / "pairs.jsonl", toy_pairs(60))
        overrides = {
            **TINY_RUN,
            "data": {"source": str(source)},
            "model": {"name_or_path": str(base_model)},
            "featurize": {**TINY_RUN["featurize"], **(featurize or {})},
            "train": {**TINY_RUN["train"], **(train or {})},
        }
        write_params(folder, overrides)
        with contextlib.chdir(folder):
            for stage in (prepare, featurize_stage, train_stage, evaluate):
                stage.main(["--params", "params.yaml"])
        _runs[key] = folder
    return _runs[key]
