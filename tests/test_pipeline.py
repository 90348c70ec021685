"""The real DVC pipeline, in a temporary git repository, on a tiny config.

What a researcher relies on: `dvc repro` builds everything, the same params and data give the
same bytes, a second run re-runs only what changed, and `dvc exp run` / `dvc metrics diff`
compare runs. Every test here reads one pair of from-scratch runs (``default_pipeline``); under
pytest-xdist's ``--dist loadfile`` (make test) a file stays on one worker, so it is built once.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from dvc_repo import DefaultPipeline, reproduce_default_pipeline
from dvc_repo import dvc as dvc_result
from dvc_repo import run as run_result
from rewardlab.evaluation.stats import random_win_rate
from rewardlab.model.loading import resolve_model_path

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
def default_pipeline(tmp_path_factory: pytest.TempPathFactory) -> DefaultPipeline:
    """The default pipeline (builtin pairs, builtin:minilm) on TINY, run by `dvc repro` from
    scratch as a user's first `make repro` runs it, in two folders at once."""
    return reproduce_default_pipeline(tmp_path_factory.mktemp("default-pipeline"))


@pytest.fixture(scope="module")
def repo(default_pipeline: DefaultPipeline) -> Path:
    # The first of the two runs (the second is the determinism test's twin).
    repo = default_pipeline.repo
    assert stages_run(default_pipeline.output) == list(STAGES)
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
    references = repo / "reports/references"  # no reference models by default: just the index
    assert [path.name for path in references.iterdir()] == ["references.json"]
    assert set(metrics) >= {"win_rate", "mean_margin", "longer_wins_rate"}


def out_hashes(lock_text: str) -> dict[str, str]:
    """The hash DVC recorded in a dvc.lock for every output of every stage."""
    lock = yaml.safe_load(lock_text)
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_two_repros_from_scratch_in_two_folders_give_byte_identical_outputs(default_pipeline):
    # Two `dvc repro` from scratch, side by side, in two fresh repositories
    # (dvc_repo.reproduce_default_pipeline). The first one's dvc.lock and metrics are as
    # they were right after its run, whatever the tests below have done in it since.
    first, second = default_pipeline.repo, default_pipeline.twin
    metrics = "reports/metrics.json"
    assert default_pipeline.metrics == (second / metrics).read_bytes()
    # Not only the headline: every stage's outputs (data, features, model, scores, curves).
    hashes = out_hashes(default_pipeline.lock)
    assert metrics in hashes and "models/reward_model" in hashes
    assert hashes == out_hashes((second / "dvc.lock").read_text())
    for repo in (first, second):
        assert_no_machine_path(repo)


def assert_no_machine_path(repo: Path) -> None:
    """Identical bytes in two folders could still share one absolute path (the virtualenv's):
    the adapter must name its base by the Hub id and mention neither the packaged copy's folder
    nor the repository's, so it loads, and hashes the same, wherever it is cloned."""
    model = repo / "models/reward_model"
    config = json.loads((model / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    card = yaml.safe_load((model / "README.md").read_text().split("---\n")[1])
    assert card["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    machine_paths = (resolve_model_path("builtin:minilm"), str(repo), sys.prefix)
    for file in model.iterdir():
        text = file.read_bytes().decode(errors="ignore")
        assert not [p for p in machine_paths if p in text], file


def test_a_second_repro_runs_nothing(repo):
    assert stages_run(dvc(repo, "repro")) == []
    # Only the fingerprint of the local inputs is always out of date: it is how DVC sees them.
    status = json.loads(dvc(repo, "status", "--json"))
    assert status == {"fingerprint": ["always changed"]}


def test_an_evaluate_param_reruns_only_evaluate(repo):
    set_param(repo, "evaluate", "seed", 1)  # the sweep below restores this run from the run-cache
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
    # its own temporary copy of the repo, all sharing the DVC cache and run-cache. The grid is
    # over an evaluate param, so prepare, featurize and train are reused and only evaluate runs
    # (seed 1, evaluated by the test above when the module runs whole, is restored from the
    # run-cache: one evaluation fewer).
    seeds = [1, 2]
    dvc(repo, "exp", "run", "--queue", "-S", f"evaluate.seed={seeds[0]},{seeds[1]}")
    try:
        output = dvc_result(repo, "exp", "run", "--run-all", "-j", "1", timeout=600)
    finally:
        dvc_result(repo, "queue", "stop", "--kill", check=False)  # no worker outlives the test
    assert stages_run(output.stdout + output.stderr) == ["evaluate"]
    shown = json.loads(dvc(repo, "exp", "show", "--json"))
    runs = [
        run_["data"] for row in shown for e in row.get("experiments") or [] for run_ in e["revs"]
    ]
    by_seed = {
        data["params"]["params.yaml"]["data"]["evaluate"]["seed"]: (
            data["metrics"]["reports/metrics.json"]["data"]
        )
        for data in runs
    }
    assert set(seeds) <= set(by_seed)
    # Each experiment's figures come from its own params: the random baseline of the headline
    # split and of every other split is drawn with that experiment's seed.
    for seed in seeds:
        for block in (by_seed[seed], *by_seed[seed].get("sets", {}).values()):
            expected = round(random_win_rate(block["pairs"], seed), 6)
            assert block["random_win_rate"] == expected, (seed, block["pairs"])
    assert by_seed[seeds[0]] != by_seed[seeds[1]]
    # The workspace is the baseline still: the experiments ran elsewhere and left nothing here.
    # (only the fingerprint of the local inputs is always out of date)
    assert json.loads(dvc(repo, "status", "--json")) == {"fingerprint": ["always changed"]}
    assert not (repo / "models/checkpoints").exists()


def test_report_draws_every_figure_and_a_row_per_experiment_without_retraining(repo, capsys):
    # `make report` runs `rewardlab report` (test_report.py): it reads reports/ and DVC, and
    # trains nothing. Run here, in this process, through the same command-line entry point.
    from matplotlib.image import imread

    from rewardlab.cli import main as rewardlab
    from rewardlab.tools.figures import FIGURES

    before = dvc(repo, "status")
    with contextlib.chdir(repo):
        rewardlab(["report"])
    output = capsys.readouterr()
    assert stages_run(output.out + output.err) == [] and dvc(repo, "status") == before
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
    # The sweep was over evaluate.seed: every run ranks the same pairs right as the baseline,
    # so each win rate is marked as no detectable difference, read from the DVC cache.
    experiment_rows = [line for line in rows if " (on " in line]
    assert experiment_rows and all("(≈)" in line for line in experiment_rows), rows
    assert any("(baseline)" in line for line in rows)
    assert "rewardlab diff HEAD workspace" in text and "could not answer" not in text


def test_each_stage_ends_on_one_short_human_line(default_pipeline):
    """What a user reads on the console: per stage, one line of at most ~160 characters that
    says what came in and went out, naming only the drop reasons that occurred (none here)."""
    summaries = {
        stage: [
            line for line in default_pipeline.output.splitlines() if line.startswith(f"{stage}:")
        ]
        for stage in ("fingerprint", *STAGES)
    }
    for stage, lines in summaries.items():
        assert lines, stage
        for line in lines:
            assert len(line) <= 160, line
            assert "{" not in line, line  # no dumped dict or JSON
    assert summaries["prepare"][-1].endswith("; nothing dropped"), summaries["prepare"]
    assert "pairs ->" in summaries["featurize"][-1]
