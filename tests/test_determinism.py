"""Determinism: the same params and data give the same bytes, from scratch, through real `dvc`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from dvc_repo import TINY, make_repo, start_dvc
from rewardlab.modeling import resolve_model_path

pytestmark = pytest.mark.e2e


def out_hashes(repo: Path) -> dict[str, str]:
    """The hash DVC recorded for every output of every stage."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_two_repros_from_scratch_in_two_folders_give_byte_identical_outputs(tmp_path):
    first = make_repo(tmp_path / "first", TINY)
    second = make_repo(tmp_path / "second", TINY)
    # Side by side: each stage runs on one thread, and most of the time goes to imports.
    runs = [start_dvc(repo, "repro") for repo in (first, second)]
    for process in runs:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, f"{out}\n{err}"

    metrics = "reports/metrics.json"
    assert (first / metrics).read_bytes() == (second / metrics).read_bytes()
    # Not only the headline: every stage's outputs (data, features, model, scores, curves).
    hashes = out_hashes(first)
    assert metrics in hashes and "models/reward_model" in hashes
    assert hashes == out_hashes(second)
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
