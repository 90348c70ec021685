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

HEAVY = ("torch", "transformers", "datasets", "peft", "trl", "accelerate", "dvclive", "matplotlib")
UNUSED = {
    "rewardlab.cli": HEAVY,  # `rewardlab --help` must answer at once
    "rewardlab.stages.fingerprint": HEAVY,  # runs on every `dvc repro`: hashing only
    "rewardlab.stages.references": HEAVY,  # without references (the default) it loads nothing
    # prepare reads conversational and implicit-prompt rows with trl.data_utils (as issue 11
    # asks), imported on first use: it brings torch and transformers, 10 s on a 2-core CPU that
    # the builtin source and text rows with a prompt column never need.
    "rewardlab.stages.prepare": tuple(p for p in HEAVY if p != "datasets"),
    "rewardlab.stages.featurize": ("peft", "trl", "accelerate", "dvclive", "matplotlib"),
    "rewardlab.stages.evaluate": ("trl", "dvclive", "matplotlib"),
    "rewardlab.tools.report": ("torch", "transformers", "peft", "trl", "datasets"),
}


def test_a_stage_module_does_not_import_what_it_does_not_use():
    # One fresh interpreter per module, all started at once: most of their time is imports.
    code = "import json, sys; import {}; print(json.dumps([p for p in {!r} if p in sys.modules]))"
    started = {
        module: subprocess.Popen(
            [sys.executable, "-c", code.format(module, list(HEAVY))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for module in UNUSED
    }
    unwanted = {}
    for module, process in started.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"import {module}:\n{err}"
        unwanted[module] = sorted(set(json.loads(out)) & set(UNUSED[module]))
    assert unwanted == {module: [] for module in UNUSED}
