"""Determinism: the same params and data give the same bytes, from scratch, through real `dvc`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from rewardlab.modeling import resolve_model_path

pytestmark = pytest.mark.e2e


def out_hashes(lock_text: str) -> dict[str, str]:
    """The hash DVC recorded in a dvc.lock for every output of every stage."""
    lock = yaml.safe_load(lock_text)
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_two_repros_from_scratch_in_two_folders_give_byte_identical_outputs(default_pipeline):
    # The session's default pipeline: two `dvc repro` from scratch, side by side, in two fresh
    # repositories (dvc_repo.default_pipeline). The first one's dvc.lock and metrics are as
    # they were right after its run, whatever test_pipeline.py has done in it since.
    first, second = default_pipeline.repo, default_pipeline.twin
    metrics = "reports/metrics.json"
    assert default_pipeline.metrics == (second / metrics).read_bytes()
    # Not only the headline: every stage's outputs (data, features, model, scores, curves).
    hashes = out_hashes(default_pipeline.lock)
    assert metrics in hashes and "models/reward_model" in hashes
    assert hashes == out_hashes((second / "dvc.lock").read_text())
    for repo in (first, second):
        assert_no_machine_path(repo)


def assert_no_machine_path(repo: Path) -> None:
    """Identical bytes in two folders could still share one absolute path (the virtualenv's):
    the adapter must name its base by the Hub id and mention neither the packaged copy's folder
    nor the repository's, so it loads, and hashes the same, wherever it is cloned."""
    model = repo / "models/reward_model"
    config = json.loads((model / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    card = yaml.safe_load((model / "README.md").read_text().split("---\n")[1])
    assert card["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    machine_paths = (resolve_model_path("builtin:minilm"), str(repo), sys.prefix)
    for file in model.iterdir():
        text = file.read_bytes().decode(errors="ignore")
        assert not [p for p in machine_paths if p in text], file
