"""Faults part-way through a stage: nothing half-written appears, and DVC knows to re-run it.

Every stage writes into a hidden temporary sibling and moves it into place only on success
(rewardlab.core.outputs). These tests break stages for real: an exception injected half-way through
writing, and a SIGKILL of the training process that `dvc repro` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from conftest import toy_pairs, write_jsonl
from dvc_repo import dvc, make_repo, start_dvc
from rewardlab.model.checkpoints import latest_checkpoint
from rewardlab.stages import featurize, fingerprint, prepare, references

pytestmark = pytest.mark.e2e

INJECT_IN_PREPARE = '''#!{python}
"""`rewardlab`, with a failure injected after data/prepared/train.jsonl is written."""
from rewardlab.stages import prepare
from rewardlab.cli import main

write_jsonl = prepare.write_jsonl


def write_then_fail(path, rows):
    write_jsonl(path, rows)
    raise RuntimeError(f"injected failure after writing {{path.name}}")


prepare.write_jsonl = write_then_fail
main()
'''


def tiny_config(source: Path, model: Path) -> dict:
    return {
        "data": {"source": str(source)},
        "model": {"name_or_path": str(model)},
        "featurize": {"max_length": 48},
        "train": {
            "max_steps": 60,  # a few seconds: time to kill it after its first checkpoint
            "per_device_train_batch_size": 4,
            "logging_steps": 5,
            "eval_steps": 20,
            "eval_pairs": 4,
            "save_steps": 2,
        },
    }


@pytest.fixture
def repo(tiny_gpt2: Path, tmp_path: Path) -> Path:
    source = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(40))
    return make_repo(tmp_path / "repo", tiny_config(source, tiny_gpt2))


def stale_stages(repo: Path) -> set[str]:
    """Stages that `dvc status` says must run again (fingerprint always runs: not listed)."""
    status = json.loads(dvc(repo, "status", "--json").stdout)
    return {stage for stage, why in status.items() if why != ["always changed"]}


def siblings(path: Path) -> list[Path]:
    """The atomic writers' temporaries of ``path`` (``.<name>.<pid>.<random>.tmp``)."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def test_a_failure_half_way_through_prepare_leaves_nothing_and_dvc_reruns_it(repo, tmp_path):
    shim = tmp_path / "shim" / "rewardlab"  # found before the real command on PATH
    shim.parent.mkdir()
    shim.write_text(INJECT_IN_PREPARE.format(python=sys.executable))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)

    failed = start_dvc(repo, "repro", first_on_path=shim.parent)
    _, err = failed.communicate(timeout=300)
    assert failed.returncode != 0
    assert "injected failure after writing train.jsonl" in err
    prepared = repo / "data/prepared"
    assert not prepared.exists(), "a half-written data/prepared was moved into place"
    assert siblings(prepared) == [], "the temporary folder was not removed"
    assert {"prepare", "featurize", "train", "evaluate"} <= stale_stages(repo)


def stage_processes(session: int) -> list[int]:
    """Pids of `rewardlab` processes in a process session (the one `dvc repro` leads)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            in_session = os.getsid(int(entry.name)) == session
            command = (entry / "cmdline").read_bytes()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        if in_session and b"rewardlab" in command:
            found.append(int(entry.name))
    return found


def featurized_without_running_dvc(repo: Path) -> None:
    """Run prepare and featurize (and references, which has none to score) here, cheaper than
    fresh processes, and let DVC record them in dvc.lock, as if `dvc repro` had run them."""
    with contextlib.chdir(repo):
        for stage in (fingerprint, prepare, featurize, references):
            stage.main(["--params", "params.yaml"])
    dvc(repo, "commit", "--force", "fingerprint", "prepare", "featurize", "references")
    assert stale_stages(repo) == {"train", "evaluate"}


def test_sigkill_mid_training_leaves_no_model_and_the_next_repro_resumes(repo):
    featurized_without_running_dvc(repo)
    process = start_dvc(repo, "repro", start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while latest_checkpoint(repo / "models/checkpoints") is None:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        victims = stage_processes(process.pid)
        assert victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        out, _ = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever failed, leave nothing running
    assert process.returncode != 0, out

    model, curves = repo / "models/reward_model", repo / "reports/train"
    assert not model.exists() and not curves.exists(), "a half-written output is in place"
    # SIGKILL leaves the temporaries behind, hidden and named after the dead process.
    leftovers = siblings(model) + siblings(curves)
    assert leftovers
    assert all(any(f".{pid}." in p.name for pid in victims) for p in leftovers)
    assert stale_stages(repo) == {"train", "evaluate"}

    rerun = dvc(repo, "repro", "train")
    assert "resuming from models/checkpoints/checkpoint-" in rerun.stdout
    assert (model / "adapter_model.safetensors").is_file()
    assert siblings(model) == [] and siblings(curves) == [], "stale temporaries were kept"
    assert not (repo / "models/checkpoints").exists()
    assert stale_stages(repo) == {"evaluate"}
