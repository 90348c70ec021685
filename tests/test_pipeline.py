"""The real DVC pipeline, in a temporary git repository, on a tiny config.

What a researcher relies on: `dvc repro` builds everything, re-runs only what changed, and
`dvc exp run` / `dvc metrics diff` compare runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dvc_repo import TINY, make_repo
from dvc_repo import dvc as dvc_result
from dvc_repo import run as run_result

pytestmark = pytest.mark.e2e

STAGES = ("prepare", "featurize", "train", "evaluate")


def run(repo: Path, *args: str) -> str:
    result = run_result(repo, *args)
    return result.stdout + result.stderr


def dvc(repo: Path, *args: str) -> str:
    result = dvc_result(repo, *args)
    return result.stdout + result.stderr


def stages_run(output: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def set_param(repo: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("pipeline"), TINY)
    assert stages_run(dvc(repo, "repro")) == list(STAGES)
    run(repo, "git", "add", "-A")
    run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline")
    return repo


def test_every_declared_output_exists(repo):
    for path in (
        "data/prepared/train.jsonl",
        "data/prepared/test.jsonl",
        "data/prepared/test_seen_topics.jsonl",
        "data/prepared/stats.json",
        "data/features/dataset_dict.json",
        "data/features/stats.json",
        "models/reward_model/adapter_model.safetensors",
        "models/reward_model/rewardlab.json",
        "reports/train/metrics.json",
        "reports/train/plots/metrics/eval/loss.tsv",
        "reports/scores.jsonl",
    ):
        assert (repo / path).is_file(), path
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    prepared = json.loads((repo / "data/prepared/stats.json").read_text())
    assert prepared["split_by"] == "topic_group"  # the builtin source holds topics out
    assert metrics["pairs"] == prepared["test_pairs"] > 0
    assert set(metrics) >= {"win_rate", "mean_margin", "longer_wins_rate"}


def test_a_second_repro_runs_nothing(repo):
    assert stages_run(dvc(repo, "repro")) == []
    # Only the fingerprint of the local inputs is always out of date: it is how DVC sees them.
    status = json.loads(dvc(repo, "status", "--json"))
    assert status == {"fingerprint": ["always changed"]}


def test_an_evaluate_param_reruns_only_evaluate(repo):
    set_param(repo, "evaluate", "batch_size", 7)
    try:
        assert stages_run(dvc(repo, "repro")) == ["evaluate"]
    finally:
        run(repo, "git", "checkout", "params.yaml")
        dvc(repo, "repro")


def test_a_train_param_reruns_train_and_evaluate_only(repo):
    set_param(repo, "train", "learning_rate", 0.002)
    try:
        assert stages_run(dvc(repo, "repro")) == ["train", "evaluate"]
        diff = json.loads(dvc(repo, "metrics", "diff", "--all", "--json"))
        assert "win_rate" in diff["reports/metrics.json"]
        assert (
            "train.learning_rate"
            in json.loads(dvc(repo, "params", "diff", "--json"))["params.yaml"]
        )
    finally:
        run(repo, "git", "checkout", "params.yaml")
        dvc(repo, "repro")


def test_a_queued_sweep_runs_each_experiment_apart_and_lists_it_beside_the_baseline(repo):
    # The README's sweep: a grid queued with -S, run by DVC's queue workers, each experiment in
    # its own temporary copy of the repo, all sharing the DVC cache and run-cache: prepare and
    # featurize are restored, not re-run (and 0.002, trained by the test above when the module
    # runs whole, is restored too: one training fewer).
    rates = [0.002, 0.004]
    dvc(repo, "exp", "run", "--queue", "-S", f"train.learning_rate={rates[0]},{rates[1]}")
    try:
        output = dvc_result(repo, "exp", "run", "--run-all", "-j", "1", timeout=600)
    finally:
        dvc_result(repo, "queue", "stop", "--kill", check=False)  # no worker outlives the test
    logs = output.stdout + output.stderr
    assert "Running stage 'featurize'" not in logs and "Running stage 'evaluate'" in logs
    shown = json.loads(dvc(repo, "exp", "show", "--json"))
    runs = [
        run_["data"] for row in shown for e in row.get("experiments") or [] for run_ in e["revs"]
    ]
    by_rate = {
        data["params"]["params.yaml"]["data"]["train"]["learning_rate"]: (
            data["metrics"]["reports/metrics.json"]["data"]
        )
        for data in runs
    }
    assert set(rates) <= set(by_rate)
    assert by_rate[rates[0]]["mean_margin"] != by_rate[rates[1]]["mean_margin"]
    # The workspace is the baseline still: the experiments ran elsewhere and left nothing here.
    # (only the fingerprint of the local inputs is always out of date)
    assert json.loads(dvc(repo, "status", "--json")) == {"fingerprint": ["always changed"]}
    assert not (repo / "models/checkpoints").exists()


def test_report_draws_every_figure_and_a_row_per_experiment_without_retraining(repo):
    # `make report` runs `rewardlab report`: it reads reports/ and DVC, and trains nothing.
    from matplotlib.image import imread

    from rewardlab.tools.figures import FIGURES

    before = dvc(repo, "status")
    output = run(repo, "rewardlab", "report")
    assert stages_run(output) == [] and dvc(repo, "status") == before
    for name in FIGURES:
        height, width, _ = imread(repo / "reports/figures" / f"{name}.png").shape
        assert 500 <= width <= 1600 and 350 <= height <= 900, (name, width, height)
    shown = json.loads(dvc(repo, "exp", "show", "--json"))
    names = [r["name"] for row in shown for e in row.get("experiments") or [] for r in e["revs"]]
    text = (repo / "reports/report.md").read_text()
    experiments = text.split("## Experiments")[1].split("\n## ")[0]
    rows = [line for line in experiments.splitlines() if line.startswith("| ")][1:]
    # The workspace, the baseline commit (the first commit has no metrics), each experiment.
    assert len(rows) == 2 + len(names)
    assert all(any(line.startswith(f"| {name} (on ") for line in rows) for name in names)
    assert "dvc metrics diff" in text and "could not answer" not in text
