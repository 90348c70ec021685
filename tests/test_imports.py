"""Importing a stage module pulls in only what that stage uses.

Every `dvc repro` starts a fresh interpreter per stage, so an import a stage does not need is paid
on every run: peft and transformers' model classes cost featurize 2 s of its 4.5 s before they
were deferred (python -X importtime; README, "Throughput"). Time is not asserted; which
packages end up in ``sys.modules`` is.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets", "peft", "trl", "accelerate", "dvclive", "matplotlib")
UNUSED = {
    "rewardlab.cli": HEAVY,  # `rewardlab --help` must answer at once
    "rewardlab.stages.fingerprint": HEAVY,  # runs on every `dvc repro`: hashing only
    # prepare reads formats with trl.data_utils (is_conversational, extract_prompt), as issue 11
    # asks, and trl brings torch, transformers and accelerate; models, peft and plotting stay out.
    "rewardlab.stages.prepare": ("peft", "dvclive", "matplotlib"),
    "rewardlab.stages.featurize": ("peft", "trl", "accelerate", "dvclive", "matplotlib"),
    "rewardlab.stages.evaluate": ("dvclive", "matplotlib"),  # trl: evaluation sets' formats
    "rewardlab.tools.report": ("torch", "transformers", "peft", "trl", "datasets"),
}


@pytest.mark.parametrize("module", list(UNUSED))
def test_a_stage_module_does_not_import_what_it_does_not_use(module):
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps([p for p in {list(HEAVY)!r} if p in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = set(json.loads(done.stdout))
    assert not imported & set(UNUSED[module]), f"{module} imports {imported & set(UNUSED[module])}"
