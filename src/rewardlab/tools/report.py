"""``rewardlab report`` (``make report``): figures and ``reports/report.md``, without retraining.

Everything comes from files the pipeline already wrote and from DVC's own JSON: the training
curves (``reports/train/plots/metrics``), the evaluation (``reports/metrics.json``,
``reports/scores.jsonl``), the experiments (``dvc exp show --json``) and this workspace against
the last commit (``dvc metrics diff --json``). Nothing is scored, so a report costs seconds and
always shows what the pipeline measured, not something computed beside it.
The sections about this run are written by ``report_sections.py``; the experiments table,
with each row's paired test against the baseline, is built here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_file
from rewardlab.core.paths import METRICS_FILE, SCORES_FILE, TRAIN_CURVES_DIR
from rewardlab.tools.figures import FIGURES
from rewardlab.tools.report_sections import (
    number,
    percent,
    references_section,
    run_section,
    sets_section,
    table,
    with_ci,
)
from rewardlab.tools.significance import headline_diff, paired_marks

FIGURES_DIR = Path("reports/figures")
REPORT_FILE = Path("reports/report.md")
CURVES_DIR = TRAIN_CURVES_DIR / "plots" / "metrics"


# --- inputs ---------------------------------------------------------------------------------


def read_curves(folder: Path = CURVES_DIR) -> pd.DataFrame:
    """dvclive's per-metric TSVs as one long table: split, metric, step, value."""
    frames = [
        pd.read_csv(path, sep="\t")
        .rename(columns={path.stem: "value"})
        .assign(split=path.parent.name, metric=path.stem)
        for path in sorted(folder.glob("*/*.tsv"))
    ]
    if not frames:
        return pd.DataFrame(columns=["split", "metric", "step", "value"])
    return pd.concat(frames, ignore_index=True)[["split", "metric", "step", "value"]]


def read_run() -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    missing = [str(p) for p in (METRICS_FILE, SCORES_FILE, CURVES_DIR) if not p.exists()]
    if missing:
        raise UserError(
            f"report: {', '.join(missing)} missing: run `make repro` (or `dvc repro`) first."
        )
    metrics = json.loads(METRICS_FILE.read_text())
    if "calibration" not in metrics:
        raise UserError(
            f"report: {METRICS_FILE} predates the extended evaluation: run `dvc repro evaluate`."
        )
    return metrics, pd.read_json(SCORES_FILE, lines=True), read_curves()


def dvc_json(*args: str) -> Any:
    """Run a ``dvc`` command with ``--json``; raise a readable error if DVC cannot answer."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args, "--json"], capture_output=True, text=True
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(detail[-1] if detail else f"exit status {result.returncode}")
    return json.loads(result.stdout or "null")


# --- experiments table ----------------------------------------------------------------------


# The experiments table's metric columns, one line each: header -> the cell, from a run's
# reports/metrics.json.
METRIC_COLUMNS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "pairs": lambda m: m.get("pairs", "-"),
    "win rate [95% CI]": with_ci,
    "untrained": lambda m: percent(m.get("untrained_win_rate")),
    "longer wins": lambda m: percent(m.get("longer_wins_rate")),
    "random": lambda m: percent(m.get("random_win_rate")),
    "ECE": lambda m: number((m.get("calibration") or {}).get("ece")),
}
SORT_BY = "win_rate"  # the headline
HEADLINE = "win rate [95% CI]"


def exp_show_args(all_commits: bool) -> list[str]:
    """``dvc exp show`` for the table: HEAD first, then branch and tag tips; every commit only
    when asked, since the table would grow with the history."""
    if all_commits:
        return ["exp", "show", "--all-commits"]
    return ["exp", "show", "--rev", "HEAD", "--all-branches", "--all-tags"]


def experiment_rows(shown: list[dict[str, Any]], all_commits: bool = False) -> list[dict[str, Any]]:
    """One row per workspace, commit and experiment of ``dvc exp show --json`` that has metrics.

    Experiments are those of HEAD, the first commit listed (see ``exp_show_args``); other
    commits bring theirs only with ``all_commits``.
    """
    rows = []

    def add(label: str, data: dict[str, Any] | None, rev: str) -> None:
        metrics = ((data or {}).get("metrics") or {}).get(str(METRICS_FILE), {}).get("data")
        if not metrics:
            return  # a commit before the pipeline ran, or a failed/queued experiment
        params = ((data or {}).get("params") or {}).get("params.yaml", {}).get("data") or {}
        flat = pd.json_normalize(params).iloc[0].to_dict() if params else {}  # "train.seed": 42
        rows.append({"experiment": label, "params": flat, "metrics": metrics, "rev": rev})

    head = next((commit for commit in shown if commit["rev"] != "workspace"), None)
    for commit in shown:
        name = commit.get("name")
        rev = commit["rev"] if commit["rev"] == "workspace" else commit["rev"][:7]
        add(f"{name} ({rev})" if name and name != rev else rev, commit.get("data"), commit["rev"])
        if not (all_commits or commit is head):
            continue
        for experiment in commit.get("experiments") or []:
            for run in experiment.get("revs") or []:
                label = run.get("name") or run["rev"][:7]
                add(f"{label} (on {rev})", run.get("data"), run["rev"])
    return rows


def metric(metrics: dict[str, Any], name: str) -> float | None:
    """A metric by its dotted name (``win_rate``, ``calibration.ece``), None where missing."""
    value: Any = metrics
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def sort_rows(rows: list[dict[str, Any]], by: str, ascending: bool = False) -> list[dict]:
    """Best first by metric ``by`` (highest, or lowest with ``ascending``); rows without it
    last, in their order."""
    present = [row for row in rows if metric(row["metrics"], by) is not None]
    present.sort(key=lambda row: metric(row["metrics"], by), reverse=not ascending)
    return present + [row for row in rows if metric(row["metrics"], by) is None]


def experiments_table(rows: list[dict[str, Any]]) -> str:
    """The metric columns per run (in the order given), beside only the params that differ."""
    keys = sorted({key for row in rows for key in row["params"]})
    differ = [k for k in keys if len({json.dumps(r["params"].get(k)) for r in rows}) > 1]
    # Every evaluation set any run has, as one more win-rate column (a run without it: "-").
    set_names = sorted({name for row in rows for name in row["metrics"].get("sets") or {}})
    body = [
        [
            row["experiment"],
            *(row["params"].get(key, "-") for key in differ),
            *(
                marked(column(row["metrics"]), row, "test")
                if key == HEADLINE
                else column(row["metrics"])
                for key, column in METRIC_COLUMNS.items()
            ),
            *(
                marked(with_ci((row["metrics"].get("sets") or {}).get(name) or {}), row, name)
                for name in set_names
            ),
        ]
        for row in rows
    ]
    return table(
        ["experiment", *differ, *METRIC_COLUMNS, *(f"{name} win rate" for name in set_names)], body
    )


def marked(cell: str, row: dict[str, Any], name: str) -> str:
    """A win-rate cell with the paired test against the baseline row, where there is one."""
    found = (row.get("marks") or {}).get(name)
    return f"{cell} ({found})" if found and cell != "-" else cell


def metrics_diff_table(diff: dict[str, Any]) -> str:
    body = [
        [f"`{path}`: {name}", number(change.get("old")), number(change.get("new")),
         number(change.get("diff"), signed=True)]
        for path, changes in sorted(diff.items())
        for name, change in sorted(changes.items())
    ]  # fmt: skip
    if not body:
        return "No metric differs from the last commit."
    return table(["metric", "last commit", "workspace", "change"], body)


# --- report.md ------------------------------------------------------------------------------


def dvc_sections(opts: argparse.Namespace) -> str:
    try:
        rows = experiment_rows(dvc_json(*exp_show_args(opts.all_commits)), opts.all_commits)
        rows = sort_rows(rows, opts.sort_by, opts.ascending)
        paired_marks(rows)
        experiments = experiments_table(rows) if rows else "No run with metrics yet."
    except RuntimeError as exc:
        experiments = f"`dvc exp show` could not answer here: {exc}"
    shown = (
        "Every commit (`--all-commits`)"
        if opts.all_commits
        else "The workspace, HEAD and its experiments, and the tips of branches and tags "
        "(`make report ALL_COMMITS=1` adds every commit)"
    )
    order = "lowest" if opts.ascending else "highest"
    against = headline_diff()
    if opts.metrics_diff:
        try:
            dump = metrics_diff_table(dvc_json("metrics", "diff") or {})
        except RuntimeError as exc:
            dump = f"`dvc metrics diff` could not answer here: {exc}"
        against += f"\n\nEvery metric that changed (`dvc metrics diff`):\n\n{dump}"
    return (
        f"## Experiments\n\n{shown}, with the params that differ between them; "
        f"{order} `{opts.sort_by}` first. Each win rate carries the paired test against the "
        f"baseline row (`rewardlab diff`): the difference and its p-value where it is beyond "
        f"noise (p < 0.05), ≈ where it is not.\n\n{experiments}\n\n"
        f"## This workspace against the last commit (paired, `rewardlab diff HEAD workspace`)"
        f"\n\n{against}"
    )


def render(metrics: dict[str, Any], figures: Sequence[Path], opts: argparse.Namespace) -> str:
    images = "\n\n".join(f"![{path.stem}](figures/{path.name})" for path in figures)
    sections = [
        run_section(metrics),
        sets_section(metrics),
        references_section(metrics),  # empty without references
        f"## Figures\n\n{images}",
        dvc_sections(opts),
    ]
    return (
        "# Reward model report\n\n"
        "Written by `rewardlab report` (`make report`) from `reports/` and DVC; "
        "regenerate it rather than editing it.\n\n"
        + "\n\n".join(section for section in sections if section)
        + "\n"
    )


def write_figure(path: Path, make: Callable[..., Any], *data: Any) -> Path:
    figure = make(*data)
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rewardlab report", description=__doc__)
    parser.add_argument(
        "--all-commits", action="store_true", help="a row for every commit in the history"
    )
    parser.add_argument(
        "--sort-by",
        default=SORT_BY,
        metavar="METRIC",
        help=f"experiments best first by this reports/metrics.json key (default {SORT_BY}; "
        "dotted for nested ones, e.g. calibration.ece)",
    )
    parser.add_argument("--ascending", action="store_true", help="lowest first (ECE, loss)")
    parser.add_argument(
        "--metrics-diff",
        action="store_true",
        help="also list every metric that changed since the last commit (`dvc metrics diff`)",
    )
    opts = parser.parse_args(argv)
    metrics, scores, curves = read_run()
    inputs = {"metrics": metrics, "scores": scores, "curves": curves}
    written = [
        write_figure(FIGURES_DIR / f"{name}.png", make, *(inputs[n] for n in needs))
        for name, (make, needs) in FIGURES.items()
    ]
    with atomic_file(REPORT_FILE) as tmp:
        tmp.write_text(render(metrics, written, opts))
    print(f"report: wrote {REPORT_FILE} and {len(written)} figures in {FIGURES_DIR}")


if __name__ == "__main__":
    run_main(main)
