"""The Hub code path without a network: fail fast with advice, or use what the cache holds."""

from __future__ import annotations

import contextlib
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
from rewardlab.stages import prepare

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


def start(cwd: Path, stage: str, hf_home: Path, **env: str) -> tuple[subprocess.Popen, float]:
    """Start ``rewardlab STAGE`` in a fresh interpreter that knows the Hub only through
    ``hf_home`` and a refused endpoint; returns the process and when it started."""
    environ = {**os.environ, "HF_HOME": str(hf_home), "HF_ENDPOINT": REFUSED, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "rewardlab", stage],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, time.monotonic()


def finish(started: tuple[subprocess.Popen, float]) -> tuple[int, str, float]:
    """Exit status, stderr and seconds taken of a process from ``start``."""
    process, began = started
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr, time.monotonic() - began


def rewardlab(cwd: Path, stage: str, hf_home: Path, **env: str) -> tuple[int, str, float]:
    return finish(start(cwd, stage, hf_home, **env))


def prepare_here(folder: Path) -> None:
    """Run prepare in this process (its imports are paid already): the tests that need its
    output are about what comes after it."""
    with contextlib.chdir(folder):
        prepare.main(["--params", "params.yaml"])


@pytest.mark.parametrize(
    ("stage", "section", "key", "what"),
    [
        ("prepare", "data", "source", "nobody/no-such-dataset"),
        ("featurize", "model", "name_or_path", "nobody/no-such-model"),
    ],
)
def test_an_unreachable_hub_fails_fast_naming_the_repo(tmp_path, stage, section, key, what):
    # Offline mode on and off (then the connection is refused), side by side: two processes.
    folders = {offline: tmp_path / f"offline-{offline}" for offline in ("0", "1")}
    for folder in folders.values():
        folder.mkdir()
        write_params(folder, {section: {key: what}})
        if stage == "featurize":  # featurize needs prepare's output to get as far as the model
            write_params(folder, {"data": {"num_pairs": 120}, section: {key: what}})
            prepare_here(folder)
    started = {
        offline: start(folder, stage, folder / "hf", HF_HUB_OFFLINE=offline)
        for offline, folder in folders.items()
    }
    for offline, process in started.items():
        code, stderr, seconds = finish(process)
        assert code == 2, (offline, stderr)
        assert seconds < 30, offline
        assert what in stderr and f"{section}.{key}" in stderr and "local" in stderr, offline
        assert "Traceback" not in stderr, offline
        if stage == "prepare":
            assert not (folders[offline] / "data" / "prepared").exists()


def test_a_cached_hub_model_is_used_without_network(tmp_path, tiny_gpt2):
    put_in_hub_cache(tmp_path / "hf", "model", "tutorial/tiny-gpt2", tiny_gpt2)
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in toy_pairs(10)))
    write_params(
        tmp_path, {"data": {"source": str(source)}, "model": {"name_or_path": "tutorial/tiny-gpt2"}}
    )
    prepare_here(tmp_path)  # a local file: no Hub involved
    code, stderr, _ = rewardlab(tmp_path, "featurize", tmp_path / "hf", HF_HUB_OFFLINE="0")
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
