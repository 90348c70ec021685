"""What ``make report`` says is beyond noise: every run's win rates tested against the baseline
row, pair by pair, and the workspace's headline figures against the last commit.

Two win rates side by side cannot say whether they differ: a change of precision alone moves a
23-pair category by two pairs. The paired test of ``rewardlab diff`` (exact McNemar on the pairs
the two runs ranked differently) can, on the per-pair scores every run leaves in
``reports/pairs/`` (read from the DVC cache for commits and experiments).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from rewardlab.core.errors import UserError
from rewardlab.evaluation.comparison import ALPHA, compare_runs
from rewardlab.tools import diff

RESAMPLES = 2000  # the report shows p-values; its CIs need fewer resamples than `diff`'s
BASELINE = "baseline"
SAME = "≈"
Loader = Callable[[str], tuple[str, dict[str, pd.DataFrame]]]


def mark(block: dict[str, Any]) -> str:
    """A p-value where the paired test finds a difference, ``≈`` where it does not."""
    if not block.get("comparable"):
        return "not comparable"
    if block["p_value"] < ALPHA:
        p = block["p_value"]
        return f"{block['difference']:+.3f}, " + ("p < 0.001" if p < 0.001 else f"p = {p:.2g}")
    return SAME


def vs_trained_mark(vs: dict[str, Any] | None) -> str:
    """:func:`mark` for a reference's ``vs_trained`` block (reference - trained)."""
    if not vs:
        return "not comparable"
    return mark({**vs, "comparable": vs.get("p_value") is not None})


def paired_marks(rows: list[dict[str, Any]], load: Loader = diff.load) -> None:
    """Give each row ``marks`` (set name → mark against the baseline: the first commit row, HEAD).
    A run whose per-pair scores cannot be read (older than them, not in the cache) gets none."""
    baseline = next((row for row in rows if row.get("rev", "workspace") != "workspace"), None)
    if baseline is None:
        return
    try:
        _, reference = load(baseline["rev"])
    except UserError:
        return
    baseline["marks"] = dict.fromkeys(reference, BASELINE)
    for row in rows:
        if row is baseline:
            continue
        try:
            _, pairs = load(row["rev"])
        except UserError:
            continue
        compared = compare_runs(reference, pairs, resamples=RESAMPLES)["sets"]
        row["marks"] = {name: mark(block) for name, block in compared.items()}


def headline_diff(load: Loader = diff.load) -> str:
    """The workspace against HEAD, per set: both win rates and the paired verdict."""
    try:
        _, before = load("HEAD")
        _, after = load("workspace")
    except UserError as exc:
        return f"No paired comparison with the last commit: {exc}"
    compared = compare_runs(before, after, resamples=RESAMPLES)["sets"]
    lines = ["| set | last commit | workspace | paired test |", "|---|---|---|---|"]
    for name, block in compared.items():
        rates = [
            "-" if rate is None else f"{rate:.1%}"
            for rate in (block["a_win_rate"], block["b_win_rate"])
        ]
        lines.append(f"| {name} | {rates[0]} | {rates[1]} | {block['verdict']} |")
    return "\n".join(lines)
