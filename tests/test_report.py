"""`rewardlab report`: figures and report.md from a finished run, and the experiments table."""

import contextlib
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from conftest import REPO_ROOT
from rewardlab.core.outputs import write_json
from rewardlab.core.params import EvaluateParams
from rewardlab.evaluation.bestofn_summary import summarize_bestofn
from rewardlab.evaluation.summary import summarize, summarize_set
from rewardlab.stages.evaluate import write_scores
from rewardlab.tools import report
from rewardlab.tools.figures import FIGURES


def fake_finished_run(folder, pairs: int = 300) -> dict:
    """reports/ as the pipeline leaves it, from made-up but plausible rewards (no training)."""
    rng = np.random.default_rng(0)
    chars = rng.integers(40, 400, size=(2, pairs))
    frame = pd.DataFrame(
        {
            "chosen_reward": rng.normal(1.5, 1.5, pairs),
            "rejected_reward": rng.normal(-1.5, 1.5, pairs),
            "untrained_chosen_reward": rng.normal(0, 0.05, pairs),
            "untrained_rejected_reward": rng.normal(0, 0.05, pairs),
            "chosen_chars": chars[0],
            "rejected_chars": chars[1],
            "chosen_tokens": chars[0] // 3,
            "rejected_tokens": chars[1] // 3,
            "category": rng.choice(["vague", "wrong_fact", "rude"], pairs),
        }
    )
    metrics = summarize(frame, EvaluateParams())
    # Two extra sets: one with categories (RewardBench subsets), one without.
    rewardbench = frame.head(40).assign(category=["alpacaeval-easy", "donotanswer"] * 20)
    # And a best-of-N set in RewardBench 2's layout: 12 prompts of 4 completions, 2 subsets.
    bestofn = pd.DataFrame(
        {
            "rewards": [[2, 1, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0]] * 4,
            "untrained_rewards": [[0, 0, 0, 0]] * 12,
            "chars": [[5, 6, 7, 8]] * 12,
            "num_correct": [1] * 12,
            "category": ["Factuality", "Math"] * 6,
            "row_id": [str(i) for i in range(12)],
        }
    )
    metrics["sets"] = {
        "everyday": summarize_set(frame.head(50).drop(columns="category"), EvaluateParams()),
        "rewardbench": summarize_set(rewardbench, EvaluateParams()),
        "rb2": summarize_bestofn(bestofn, EvaluateParams()),
    }
    with contextlib.chdir(folder):
        write_scores(frame)
        write_json("reports/metrics.json", metrics)
    curves = folder / "reports/train/plots/metrics"
    for split, steps in (("train", range(10, 110, 10)), ("eval", range(50, 150, 50))):
        (curves / split).mkdir(parents=True)
        for name, start, end in (("loss", 0.69, 0.2), ("accuracy", 0.5, 0.95)):
            values = np.linspace(start, end, len(steps))
            pd.DataFrame({"step": steps, name: values}).to_csv(
                curves / split / f"{name}.tsv", sep="\t", index=False
            )
    return metrics


def test_report_writes_every_figure_and_the_run_tables_outside_a_dvc_repo(tmp_path, monkeypatch):
    metrics = fake_finished_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    report.main([])
    for name in FIGURES:
        height, width, _ = imread(tmp_path / "reports/figures" / f"{name}.png").shape
        assert 500 <= width <= 1600 and 350 <= height <= 900, (name, width, height)
    text = (tmp_path / "reports/report.md").read_text()
    ci = metrics["win_rate_ci95"]
    assert f"{100 * metrics['win_rate']:.1f}% [{100 * ci['low']:.1f}%, " in text
    assert f"| {100 * metrics['untrained_win_rate']:.1f}% |" in text
    assert "![calibration](figures/calibration.png)" in text
    # Without git/DVC the report still appears and says why the experiments table is missing.
    assert "`dvc exp show` could not answer here" in text
    # Every evaluation set side by side, then the categories and RewardBench's sections.
    everyday = metrics["sets"]["everyday"]
    assert (
        f"| everyday | 50 | {report.with_ci(everyday)} | "
        f"{100 * everyday['untrained_win_rate']:.1f}% | {100 * everyday['longer_wins_rate']:.1f}% |"
    ) in text
    assert "### test (headline): per category" in text and "| wrong_fact |" in text
    assert "### everyday: per category" not in text
    chat = metrics["sets"]["rewardbench"]["sections"]["Chat"]
    assert f"| Chat | {100 * chat:.1f}% |" in text
    assert text.index("| Chat |") < text.index("| Safety |")  # RewardBench's order, not sorted
    # A best-of-N set like any set, counted in prompts, with RewardBench 2's scores.
    rb2 = metrics["sets"]["rb2"]
    assert rb2["win_rate"] == pytest.approx((4 * 1 + 4 * 0.5) / 12, abs=1e-6)
    # Untrained rewards all tie: a quarter of the credit each, chance; the longest is wrong.
    assert (
        f"| rb2 | 12 prompts (best of 4) | {report.with_ci(rb2)} | 25.0% | 0.0% | 25.0% |" in text
    )
    assert "### rb2: per category" in text and "### rb2: RewardBench 2 scores" in text
    assert f"| **overall** | {100 * rb2['rewardbench2']['overall']:.1f}% |" in text


def test_report_without_a_finished_run_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        report.run_main(report.main, [])
    assert exited.value.code == 2
    assert "run `make repro`" in capsys.readouterr().err


def run_data(learning_rate: float, win_rate: float | None) -> dict:
    metrics = {} if win_rate is None else {"pairs": 10, "win_rate": win_rate}
    return {
        "params": {
            "params.yaml": {"data": {"train": {"learning_rate": learning_rate, "seed": 42}}}
        },
        "metrics": {"reports/metrics.json": {"data": metrics}} if metrics else {},
    }


# Shaped like `dvc exp show --json --rev HEAD --all-branches` of DVC 3.67 (checked on a real
# repository): the workspace, HEAD, then the other branch tips, each with its experiments.
EXP_SHOW = [
    {"rev": "workspace", "name": None, "data": run_data(0.002, 0.6), "experiments": None},
    {
        "rev": "c1910a23dd7f57c2fb751417864acc916d00f76a",
        "name": "main",
        "data": run_data(0.001, 0.5),
        "experiments": [
            {"revs": [{"rev": "9947503aaaa", "name": "alone-hard", "data": run_data(2e-4, 0.7)}]},
            {"revs": [{"rev": "1234567bbbb", "name": "failed-one", "data": run_data(5e-4, None)}]},
        ],
    },
    {
        "rev": "2e98bf9f5ae5",
        "name": "older",
        "data": run_data(0.001, 0.55),
        "experiments": [
            {"revs": [{"rev": "5555555cccc", "name": "off-head", "data": run_data(3e-4, 0.8)}]},
        ],
    },
]


def test_the_experiments_table_has_a_win_rate_column_per_evaluation_set():
    with_set = run_data(0.001, 0.5)
    block = {"win_rate": 0.75, "win_rate_ci95": {"low": 0.5, "high": 0.9}}
    with_set["metrics"]["reports/metrics.json"]["data"]["sets"] = {"everyday": block}
    shown = [{"rev": "workspace", "data": with_set}, {"rev": "abc1234", "data": run_data(1, 0.6)}]
    lines = report.experiments_table(report.experiment_rows(shown)).splitlines()
    assert lines[0].endswith("| everyday win rate |")
    assert lines[2].endswith("| 75.0% [50.0%, 90.0%] |")
    assert lines[3].endswith("| - |")  # a run from before the set existed


def test_the_experiments_table_has_a_row_per_run_with_metrics_and_only_differing_params():
    rows = report.experiment_rows(EXP_SHOW)
    # Experiments of HEAD only (the first commit listed); the other branch tip without its own.
    assert [row["experiment"] for row in rows] == [
        "workspace",
        "main (c1910a2)",
        "alone-hard (on c1910a2)",
        "older (2e98bf9)",
    ]
    lines = report.experiments_table(rows).splitlines()
    assert lines[0].startswith("| experiment | train.learning_rate | pairs | win rate")
    assert "train.seed" not in lines[0]  # the same everywhere, so not a column
    assert len(lines) == 2 + 4
    assert lines[4].startswith("| alone-hard (on c1910a2) | 0.0002 | 10 | 70.0% |")
    everything = report.experiment_rows(EXP_SHOW, all_commits=True)
    assert [row["experiment"] for row in everything][-1] == "off-head (on 2e98bf9)"


def test_only_params_that_differ_between_the_rows_shown_get_a_column():
    rows = report.experiment_rows(EXP_SHOW)
    same_rate = [row for row in rows if row["params"]["train.learning_rate"] == 0.001]
    assert len(same_rate) == 2
    assert report.experiments_table(same_rate).startswith("| experiment | pairs |")


def test_experiments_are_sorted_best_first_by_the_chosen_metric():
    rows = report.experiment_rows(EXP_SHOW)
    rows[1]["metrics"]["calibration"] = {"ece": 0.01}
    rows[2]["metrics"]["calibration"] = {"ece": 0.2}
    by_win_rate = [row["experiment"] for row in report.sort_rows(rows, report.SORT_BY)]
    assert by_win_rate == [
        "alone-hard (on c1910a2)",
        "workspace",
        "older (2e98bf9)",
        "main (c1910a2)",
    ]
    by_ece = [r["experiment"] for r in report.sort_rows(rows, "calibration.ece", ascending=True)]
    # Rows without the metric keep their order, after the others.
    assert by_ece == ["main (c1910a2)", "alone-hard (on c1910a2)", "workspace", "older (2e98bf9)"]


def test_the_dvc_command_lists_every_commit_only_when_asked():
    assert "--all-commits" not in report.exp_show_args(all_commits=False)
    assert report.exp_show_args(all_commits=False)[2:4] == ["--rev", "HEAD"]  # HEAD first
    assert "--all-commits" in report.exp_show_args(all_commits=True)


def make_dry_run(*args: str) -> list[str]:
    """The commands ``make`` would run (``-n``: nothing runs)."""
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},  # under `make test`
    )
    return [line.strip() for line in dry_run.stdout.splitlines()]


def test_make_report_runs_the_report_command_with_every_commit_only_when_asked():
    assert ".venv/bin/rewardlab report" in make_dry_run("report")
    assert ".venv/bin/rewardlab report --all-commits" in make_dry_run("report", "ALL_COMMITS=1")


def test_metrics_diff_lists_each_changed_metric_with_old_new_and_change():
    diff = {"reports/metrics.json": {"win_rate": {"old": 0.5, "new": 0.625, "diff": 0.125}}}
    assert "| `reports/metrics.json`: win_rate | 0.5 | 0.625 | +0.125 |" in (
        report.metrics_diff_table(diff)
    )
    assert report.metrics_diff_table({}) == "No metric differs from the last commit."


def test_each_win_rate_carries_the_paired_test_against_the_baseline_row():
    """A run that ranks 30 more pairs right than the baseline (and none fewer) is marked with
    its difference and p; one that ranks the same pairs right is marked as no difference."""
    import pandas as pd

    from rewardlab.tools import significance

    def pairs(wins: int) -> dict[str, pd.DataFrame]:
        rewards = [1.0] * wins + [-1.0] * (100 - wins)
        frame = pd.DataFrame(
            {"id": [f"p{i}" for i in range(100)], "chosen_reward": rewards, "rejected_reward": 0.0}
        )
        return {"test": frame.assign(category=None)}

    runs = {"c1910a2": pairs(50), "e1": pairs(80), "e2": pairs(50)}
    rows = [
        {"experiment": "workspace", "rev": "workspace", "params": {}, "metrics": {}},
        {"experiment": "main", "rev": "c1910a2", "params": {}, "metrics": {}},
        {"experiment": "better", "rev": "e1", "params": {}, "metrics": {}},
        {"experiment": "same", "rev": "e2", "params": {}, "metrics": {}},
    ]
    runs["workspace"] = pairs(50)
    significance.paired_marks(rows, load=lambda rev: (rev, runs[rev]))
    marks = {row["experiment"]: row["marks"]["test"] for row in rows}
    # 30 discordant pairs all one way: exact McNemar p = 2 / 2**30
    assert marks == {
        "workspace": significance.SAME,
        "main": "baseline",
        "better": "+0.300, p < 0.001",
        "same": significance.SAME,
    }
    assert report.marked("80.0% [70.0%, 88.0%]", rows[2], "test").endswith("(+0.300, p < 0.001)")
