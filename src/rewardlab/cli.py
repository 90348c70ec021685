"""The ``rewardlab`` command: one sub-command per stage, imported only when called.

Lazy imports keep ``rewardlab --help`` instant and make ``rewardlab prepare`` pay only for what
prepare uses.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from rewardlab.errors import run_main

COMMANDS = {
    "prepare": "clean, format and split the preference pairs (data/prepared)",
    "featurize": "tokenize both sides for the reward trainer (data/features)",
    "train": "train the LoRA reward model with TRL (models/reward_model)",
    "evaluate": "score the held-out split (reports/metrics.json)",
}


def usage() -> str:
    lines = ["usage: rewardlab COMMAND [--params params.yaml]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
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
    module = importlib.import_module(f"rewardlab.{command}")
    run_main(module.main, rest)
