"""Named experiments kept as data: ``rewardlab exp NAME`` runs a preset through ``dvc exp run``.

A preset is a YAML file of ``params.yaml`` overrides in ``rewardlab/tools/presets/``. Turning it
into ``-S section.key=value`` flags (rather than editing params.yaml) lets DVC record the run as a
named experiment beside the baseline, and keeps the preset reviewable in one file.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.params import Params

PRESETS_DIR = Path(__file__).parent / "presets"


def available() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, dict]:
    """Read a preset and check it against the params schema before DVC sees it."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise UserError(f"unknown preset {name!r} (available: {', '.join(available())}).")
    overrides = yaml.safe_load(path.read_text()) or {}
    Params.model_validate(overrides)  # a typo in a preset is a bug: fail loudly
    return overrides


def override_value(value: object) -> str:
    """Render a value in Hydra's override grammar, which ``dvc exp run -S`` parses.

    Strings are quoted with their characters kept as they are: Hydra reads a literal newline
    inside quotes but not a ``\\n`` escape, so JSON-style escaping would corrupt the template.
    """
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ",".join(override_value(item) for item in value) + "]"
    return json.dumps(value)  # numbers, true/false, null


def set_flags(overrides: dict[str, dict]) -> list[str]:
    """``{"train": {"seed": 1}}`` → ``["-S", "train.seed=1"]``."""
    return [
        flag
        for section, values in overrides.items()
        for key, value in values.items()
        for flag in ("-S", f"{section}.{key}={override_value(value)}")
    ]


def exp_command(name: str, extra: Sequence[str] = ()) -> list[str]:
    """The ``dvc exp run`` command for a preset; ``extra`` flags (e.g. more -S) come last."""
    dvc = shutil.which("dvc") or "dvc"
    return [dvc, "exp", "run", "-n", name, *set_flags(load_preset(name)), *extra]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rewardlab exp", description=__doc__)
    parser.add_argument("preset", help=f"one of: {', '.join(available())}")
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    args, extra = parser.parse_known_args(argv)
    command = exp_command(args.preset, extra)
    print(shlex.join(command))
    if not args.dry_run:
        sys.exit(subprocess.call(command))


if __name__ == "__main__":
    run_main(main)
