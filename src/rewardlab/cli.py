"""The ``rewardlab`` command: one sub-command per stage, imported only when called.

Lazy imports keep ``rewardlab --help`` instant and make ``rewardlab prepare`` pay only for what
prepare uses.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence

from rewardlab.core.errors import run_main
from rewardlab.core.telemetry import no_background_requests

COMMANDS = {
    "fingerprint": "hash the local data files params name, so DVC sees them change",
    "prepare": "clean, format and split the preference pairs (data/prepared)",
    "featurize": "tokenize both sides for the reward trainer (data/features)",
    "train": "train the LoRA reward model with TRL (models/reward_model)",
    "references": "score the evaluate.references models on the same pairs (reports/references)",
    "evaluate": "score the held-out split (reports/metrics.json)",
    "score": "reward every pair or response of a .jsonl/.csv file (--model --input --output)",
    "compare": "which of two responses to a prompt wins (--model --prompt A B)",
    "export": "merge the adapter into a standalone transformers folder (--model --out)",
    "report": "figures and report.md from reports/ and DVC, without retraining",
    "exp": "run a named preset as a DVC experiment (rewardlab exp tutorial)",
    "bench": "training and scoring throughput vs the tutorial and plain TRL (reports/bench.json)",
    "diff": "is run B better than run A? paired tests per set (rewardlab diff HEAD workspace)",
    "bench-overlap": "cost of the train/test prompt overlap check at 160,000 x 10,000 prompts",
}
# The package's folders show its architecture: the pipeline stages, and the tools around them.
MODULES = {
    **{
        name: f"rewardlab.stages.{name}"
        for name in ("fingerprint", "prepare", "featurize", "train", "references", "evaluate")
    },
    **{
        name: f"rewardlab.tools.{name}"
        for name in ("score", "compare", "export", "report", "bench", "diff")
    },
    "exp": "rewardlab.tools.presets",
    "bench-overlap": "rewardlab.tools.overlap_bench",
}


def usage() -> str:
    lines = ["usage: rewardlab COMMAND [options]  (rewardlab COMMAND --help)", "", "commands:"]
    width = max(map(len, COMMANDS))  # the longest name sets the column
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"rewardlab: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    no_background_requests()  # before the Hugging Face libraries are imported
    module = importlib.import_module(MODULES[command])
    # What the imports allocated (torch, transformers: millions of objects) lives as long as the
    # process: out of the garbage collector's sight, neither its collections nor the
    # interpreter's exit walk it any more. ~2.5 s less per stage process on a 2-core VM.
    gc.freeze()
    run_main(module.main, rest)
