"""Determinism: the same params and data give the same bytes, from scratch, through real `dvc`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dvc_repo import TINY, make_repo, start_dvc

pytestmark = pytest.mark.e2e


def out_hashes(repo: Path) -> dict[str, str]:
    """The hash DVC recorded for every output of every stage."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_two_repros_from_scratch_give_byte_identical_outputs(tmp_path):
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
