"""The Hub code path without a network: fail fast with advice, or use what the cache holds."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import toy_pairs, write_params

REFUSED = "http://127.0.0.1:9"  # loopback, nothing listens: the Hub is "unreachable"


def put_in_hub_cache(hf_home: Path, repo_type: str, repo_id: str, folder: Path) -> None:
    """Lay ``folder`` out as the Hub client caches a download: blobs, a snapshot, refs/main."""
    repo = hf_home / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, blob)
        link = repo / "snapshots" / commit / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))


def rewardlab(cwd: Path, stage: str, hf_home: Path, **env: str) -> tuple[int, str, float]:
    environ = {**os.environ, "HF_HOME": str(hf_home), "HF_ENDPOINT": REFUSED, **env}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "rewardlab", stage],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
    )
    return result.returncode, result.stderr, time.monotonic() - start


@pytest.mark.parametrize("offline", ["0", "1"])
@pytest.mark.parametrize(
    ("stage", "section", "key", "what"),
    [
        ("prepare", "data", "source", "nobody/no-such-dataset"),
        ("featurize", "model", "name_or_path", "nobody/no-such-model"),
    ],
)
def test_an_unreachable_hub_fails_fast_naming_the_repo(
    tmp_path, stage, section, key, what, offline
):
    write_params(tmp_path, {section: {key: what}})
    if stage == "featurize":  # featurize needs prepare's output to get as far as the model
        assert rewardlab(tmp_path, "prepare", tmp_path / "hf")[0] == 0
    code, stderr, seconds = rewardlab(tmp_path, stage, tmp_path / "hf", HF_HUB_OFFLINE=offline)
    assert code == 2
    assert seconds < 30
    assert what in stderr and f"{section}.{key}" in stderr and "local" in stderr
    assert "Traceback" not in stderr
    if stage == "prepare":
        assert not (tmp_path / "data" / "prepared").exists()


def test_a_cached_hub_model_is_used_without_network(tmp_path, tiny_gpt2):
    put_in_hub_cache(tmp_path / "hf", "model", "tutorial/tiny-gpt2", tiny_gpt2)
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in toy_pairs(10)))
    write_params(
        tmp_path, {"data": {"source": str(source)}, "model": {"name_or_path": "tutorial/tiny-gpt2"}}
    )
    for stage in ("prepare", "featurize"):
        code, stderr, _ = rewardlab(tmp_path, stage, tmp_path / "hf", HF_HUB_OFFLINE="0")
        assert code == 0, stderr
    assert (tmp_path / "data/features/dataset_dict.json").exists()


def test_a_cached_hub_dataset_is_used_without_network(tmp_path):
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    pd.DataFrame(toy_pairs(12)).to_parquet(repo / "data/train-00000-of-00001.parquet")
    put_in_hub_cache(tmp_path / "hf", "dataset", "tutorial/pairs", repo)
    write_params(tmp_path, {"data": {"source": "tutorial/pairs"}})
    code, stderr, _ = rewardlab(tmp_path, "prepare", tmp_path / "hf", HF_HUB_OFFLINE="0")
    assert code == 0, stderr
    stats = json.loads((tmp_path / "data/prepared/stats.json").read_text())
    assert stats["rows_in"] == 12
    # The commit it read is recorded: offline, the cached snapshot's.
    commit = hashlib.sha1(b"tutorial/pairs").hexdigest()
    assert stats["source"] == {
        "source": "tutorial/pairs",
        "split": "train",
        "revision": None,
        "commit": commit,
    }
