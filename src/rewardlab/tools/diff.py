"""``rewardlab diff A B``: is run B better than run A, beyond the noise of the evaluation sets?

    rewardlab diff HEAD workspace          # this workspace against the last commit
    rewardlab diff main my-experiment      # a branch against a `dvc exp run` experiment
    rewardlab diff v1.0 HEAD --json        # for scripts

A and B are each ``workspace``, a git revision, branch or tag, or a ``dvc exp`` name. Both
runs' per-pair rewards (``reports/pairs/``, a cached output of evaluate) are read at their
revision through DVC, so nothing is rescored; only pairs both runs scored are compared, matched
by content. Per set: both win rates, the paired difference B - A with a paired-bootstrap 95% CI,
the exact McNemar p-value, the pairs compared and the smallest difference they could detect (80%
power, alpha = 0.05); per category the same, Holm-corrected (``evaluation/comparison.py``).
A best-of-N set is compared over its prompts: rates and the CI on the credit (ties at the top
share it), McNemar on the prompts with full credit.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.paths import PAIRS_DIR
from rewardlab.evaluation.comparison import MIN_PAIRS, RESAMPLES, SEED, compare_runs
from rewardlab.evaluation.pair_scores import read_pair_scores

WORKSPACE = "workspace"
MISSING = "run `dvc repro` (evaluate writes it)"


def read_workspace() -> dict[str, pd.DataFrame]:
    """The workspace's ``reports/pairs/NAME.jsonl``, as they are on disk."""
    files = sorted(PAIRS_DIR.glob("*.jsonl"))
    if not files:
        raise UserError(f"the workspace has no {PAIRS_DIR}/*.jsonl: {MISSING}.")
    return {path.stem: read_pair_scores(path.read_text().splitlines()) for path in files}


def resolve(rev: str) -> str:
    """The commit a git revision, branch, tag or ``dvc exp`` name stands for."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo
    from dvc.scm import SCMError, resolve_rev

    try:
        with Repo() as repo:
            return resolve_rev(repo.scm, rev)
    except NotDvcRepoError as exc:
        raise UserError(f"not inside a DVC repository (cd to the project first): {exc}") from exc
    except SCMError as exc:  # RevError included
        raise UserError(
            f"unknown revision {rev!r}: not a git revision, branch or tag, nor a `dvc exp` name"
        ) from exc


def read_revision(rev: str, commit: str) -> dict[str, pd.DataFrame]:
    """``reports/pairs/NAME.jsonl`` as evaluate wrote them at ``commit``, from the DVC cache
    (or the remote, when one is configured and the cache lacks them)."""
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException

    where = f"{rev!r} ({commit[:7]})"
    try:
        fs = DVCFileSystem(rev=commit)
        try:
            names = sorted(
                name
                for name in fs.ls(PAIRS_DIR.as_posix(), detail=False)
                if name.endswith(".jsonl")
            )
        except FileNotFoundError:
            names = []
        if not names:
            raise UserError(
                f"{where} has no {PAIRS_DIR}/: it predates per-pair scores, or its evaluate "
                f"never ran; check it out and {MISSING}, or pick another revision."
            )
        return {
            Path(name).stem: read_pair_scores(fs.read_text(name).splitlines()) for name in names
        }
    except (FileNotFoundError, DvcException) as exc:
        raise UserError(
            f"{where}: {PAIRS_DIR} is not in the DVC cache ({exc}); `dvc pull` it, or check "
            f"that revision out and {MISSING}."
        ) from exc


def load(rev: str) -> tuple[str, dict[str, pd.DataFrame]]:
    """The commit (or ``workspace``) and the per-pair scores of one side."""
    if rev == WORKSPACE:
        return WORKSPACE, read_workspace()
    commit = resolve(rev)
    return commit, read_revision(rev, commit)


def render(result: dict[str, Any]) -> str:
    """The verdict line of every set, then its categories' lines, indented."""

    def side(run: dict[str, str]) -> str:
        same = run["commit"] == WORKSPACE or run["commit"].startswith(run["rev"])
        return run["rev"] if same else f"{run['rev']} ({run['commit'][:7]})"

    lines = [
        f"A = {side(result['a'])}, B = {side(result['b'])}; pairs matched by content, ties lose "
        "(best-of-N prompts: ties at the top share the credit)"
    ]
    for name, block in result["sets"].items():
        rates = ""
        if block["a_win_rate"] is not None:
            rates = f" [win rate A {block['a_win_rate']:.3f}, B {block['b_win_rate']:.3f}]"
        lines.append(f"{name}: {block['verdict']}{rates}")
        unmatched = [
            f"{block[key]} pairs only in {side}"
            for key, side in (("only_in_a", "A"), ("only_in_b", "B"))
            if block.get(key)
        ]
        if unmatched:
            lines.append(f"  ({', '.join(unmatched)}: left out)")
        categories = block["by_category"]
        compared = {cat: sub for cat, sub in categories.items() if sub["comparable"]}
        if compared:
            lines.append("  by category (Holm-corrected p):")
            lines += [f"    {cat}: {sub['verdict']}" for cat, sub in compared.items()]
        small = [
            f"{cat} ({sub['pairs']})" for cat, sub in categories.items() if cat not in compared
        ]
        if small:
            lines.append(f"  too few pairs to compare (< {MIN_PAIRS}): {', '.join(small)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rewardlab diff", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("a", metavar="A", help="the baseline: workspace, a git rev, or a dvc exp")
    parser.add_argument("b", metavar="B", help="the run compared with it (B - A)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--resamples", type=int, default=RESAMPLES, help=f"bootstrap resamples ({RESAMPLES})"
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"bootstrap seed ({SEED})")
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error("--resamples must be at least 1")
    commit_a, sets_a = load(args.a)
    commit_b, sets_b = load(args.b)
    result = {
        "a": {"rev": args.a, "commit": commit_a},
        "b": {"rev": args.b, "commit": commit_b},
        **compare_runs(sets_a, sets_b, args.resamples, args.seed),
    }
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else render(result))


if __name__ == "__main__":
    run_main(main)
