"""No stage asks the network for anything when the base and the data are local or builtin.

``HF_HUB_OFFLINE`` is not set here on purpose: a user's machine without network has no reason to
set it, and a request that fails there costs a timeout and prints a warning whose wording depends
on how the network failed. So the test takes the network away at the socket and records every
attempt; the pipeline must make none and print no warning.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import write_params
from dvc_repo import TINY

# Loaded first by the stage process (PYTHONPATH): every way out to the network is refused, as on
# a machine without one, and recorded.
REFUSE_NETWORK = """
import os, socket, traceback

def refuse(*args, **kwargs):
    with open(os.environ["NETWORK_ATTEMPTS"], "a") as log:
        log.write(repr(args[:2]) + "\\n" + "".join(traceback.format_stack(limit=16)) + "\\n")
    raise socket.gaierror(-2, "Name or service not known")

socket.getaddrinfo = refuse
socket.create_connection = refuse
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
"""

# What `dvc repro` runs, one process for all five stages (each a `rewardlab STAGE` command).
RUN_STAGES = """
from rewardlab.cli import main
for stage in ("fingerprint", "prepare", "featurize", "train", "evaluate"):
    main([stage])
"""

# The tests' tiny default pipeline, saving a checkpoint at each step: the trainer's checkpoints
# save through peft as well.
TINY_SAVING = {**TINY, "train": {**TINY["train"], "save_steps": 1}}


def test_the_builtin_pipeline_makes_no_network_request_and_prints_no_warning(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REFUSE_NETWORK)
    work = tmp_path / "work"
    work.mkdir()
    write_params(work, TINY_SAVING)
    attempts = tmp_path / "attempts.log"
    offline = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    env = {key: value for key, value in os.environ.items() if key not in offline}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]),
        NETWORK_ATTEMPTS=str(attempts),
        HF_HOME=str(tmp_path / "hf-home"),  # an empty cache: nothing to fall back on
    )
    result = subprocess.run(
        [sys.executable, "-c", RUN_STAGES],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "models/reward_model/adapter_model.safetensors").is_file()
    assert not attempts.exists(), attempts.read_text()
    warnings = [line for line in result.stderr.splitlines() if "Warning" in line]
    assert warnings == []


def test_the_guard_records_a_request(tmp_path: Path):
    """The guard above can fail: a Hub lookup made under it is recorded."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REFUSE_NETWORK)
    attempts = tmp_path / "attempts.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "NETWORK_ATTEMPTS": str(attempts),
        "HF_HUB_OFFLINE": "0",
    }
    code = (
        "from peft.utils.other import check_file_exists_on_hf_hub\n"
        "check_file_exists_on_hf_hub('sentence-transformers/all-MiniLM-L6-v2', 'config.json')"
    )
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert attempts.is_file() and attempts.read_text()
