"""Reference reward models in the real DVC pipeline, on the tiny GPT-2 config: scored on the very
pairs evaluate scores (a best-of-N set's prompts too), reported under ``references.NAME`` with the
paired test, never rescored by retraining, and rescored when a local reference's files change.

The first run's stages execute in this process (their imports are already paid for) and
``dvc commit`` records them, as after a ``dvc repro``; the edits after it go through ``dvc repro``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import toy_pairs, write_jsonl
from dvc_repo import dvc, make_repo
from hub_fixtures import write_reward_bench_2
from reference_models import bert_reward_model, llama_reward_model
from rewardlab.evaluation.comparison import mcnemar_exact
from rewardlab.evaluation.pair_scores import read_pair_scores
from rewardlab.evaluation.stats import top_credit
from rewardlab.tools.export import export

pytestmark = pytest.mark.e2e

STAGES = ("fingerprint", "prepare", "featurize", "train", "references", "evaluate")
SETS = ("test", "extra")


def stages_run(result) -> list[str]:
    output = result.stdout + result.stderr
    return [s for s in STAGES[1:] if f"Running stage '{s}'" in output]


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outside-the-repo")


@pytest.fixture(scope="module")
def repo(outside: Path, tmp_path_factory, tiny_gpt2: Path, tiny_bert: Path) -> Path:
    # 100 pairs: 20 held out as test, the fewest the paired test compares (MIN_PAIRS).
    train = write_jsonl(outside / "train.jsonl", toy_pairs(100))
    extra = [{**pair, "category": ["vague", "rude"][i % 2]}
             for i, pair in enumerate(toy_pairs(120)[100:])]  # fmt: skip
    overrides = {
        "data": {"source": str(train)},
        "model": {"name_or_path": str(tiny_gpt2)},
        "featurize": {"max_length": 48},
        "train": {"max_steps": 2, "per_device_train_batch_size": 4, "eval_steps": 2},
        "evaluate": {
            "batch_size": 16,
            "bootstrap_resamples": 200,
            "sets": {
                "extra": {"source": str(write_jsonl(outside / "extra.jsonl", extra))},
                # best-of-N: 20 prompts of four completions and a Ties pair, 22 prompts
                "rb2": {"source": str(write_reward_bench_2(outside / "rb2", 20)), "split": "test"},
            },
            "references": {
                "bert": {"model": str(bert_reward_model(tiny_bert, outside / "bert"))},
                "chat": {"model": str(llama_reward_model(tiny_gpt2, outside / "llama"))},
            },
        },
    }
    repo = make_repo(tmp_path_factory.mktemp("references"), overrides)
    with contextlib.chdir(repo):
        for name in STAGES:
            importlib.import_module(f"rewardlab.stages.{name}").main(["--params", "params.yaml"])
    dvc(repo, "commit", "--force")
    return repo


def metrics(repo: Path) -> dict:
    return json.loads((repo / "reports/metrics.json").read_text())


def read(path: Path):
    return read_pair_scores(path.read_text().splitlines())


def hand_test(repo: Path, name: str, set_name: str) -> tuple[int, float, float]:
    """Pairs, reference - trained and the McNemar p-value, from the two per-pair files."""
    trained = read(repo / f"reports/pairs/{set_name}.jsonl")
    reference = read(repo / f"reports/references/{name}/{set_name}.jsonl")
    both = trained.merge(reference, on="id", suffixes=("_t", "_r"))
    trained_won = both["chosen_reward_t"] > both["rejected_reward_t"]
    reference_won = both["chosen_reward_r"] > both["rejected_reward_r"]
    a_only = int((trained_won & ~reference_won).sum())
    b_only = int((reference_won & ~trained_won).sum())
    difference = (reference_won.sum() - trained_won.sum()) / len(both)
    return len(both), difference, mcnemar_exact(a_only, b_only)


def test_each_reference_is_reported_on_the_trained_models_pairs_with_the_paired_test(repo):
    found = metrics(repo)
    assert set(found["references"]) == {"bert", "chat"}
    for name, block in found["references"].items():
        # The trained model's shape: the headline at the top, each other set under sets.
        assert {"win_rate", "win_rate_ci95", "pairs", "calibration", "by_tokens"} <= set(block)
        assert set(block["sets"]) == {"extra", "rb2"}
        assert block["pairs"] == found["pairs"] == 20
        assert "untrained_win_rate" not in block and "untrained_win_rate" not in block["sets"]
        extra = block["sets"]["extra"]
        assert extra["pairs"] == found["sets"]["extra"]["pairs"] == 20
        assert {c: b["pairs"] for c, b in extra["by_category"].items()} == {"vague": 10, "rude": 10}
        for set_name, figures, trained in (
            ("test", block, found),
            ("extra", extra, found["sets"]["extra"]),
        ):
            pairs, difference, p = hand_test(repo, name, set_name)
            vs = figures["vs_trained"]
            assert vs["pairs"] == pairs
            assert vs["difference"] == pytest.approx(difference, abs=1e-6)
            assert vs["difference"] == pytest.approx(
                figures["win_rate"] - trained["win_rate"], abs=1e-6
            )
            assert vs["p_value"] == pytest.approx(p, abs=1e-6)
            ci = vs["difference_ci95"]
            assert ci["low"] <= vs["difference"] <= ci["high"]
    record = json.loads((repo / "reports/references/chat/reference.json").read_text())
    assert (record["input"], record["resolved_input"]) == ("auto", "chat_template")
    assert record["sets"] == {"test": found["pairs"], "extra": 20, "rb2": 22}
    bert = json.loads((repo / "reports/references/bert/reference.json").read_text())
    assert bert["resolved_input"] == "text_pair"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_best_of_n_set_is_compared_with_each_reference_prompt_by_prompt(repo):
    """The references stage scores every completion of the RewardBench 2 set, one line per
    prompt with evaluate's content ids; evaluate reports its best-of-N figures and vs_trained on
    the credits, recomputed here from the two files."""
    found = metrics(repo)
    trained = lines(repo / "reports/pairs/rb2.jsonl")
    for name in ("bert", "chat"):
        reference = lines(repo / f"reports/references/{name}/rb2.jsonl")
        assert [r["id"] for r in reference] == [t["id"] for t in trained]
        assert [len(r["rewards"]) for r in reference] == [len(t["rewards"]) for t in trained]
        figures = found["references"][name]["sets"]["rb2"]
        credit = [top_credit(r["rewards"], r["num_correct"]) for r in reference]
        assert figures["pairs"] == 22 and "untrained_win_rate" not in figures
        assert figures["win_rate"] == pytest.approx(sum(credit) / 22, abs=1e-6)
        assert figures["completions_per_prompt"] == found["sets"]["rb2"]["completions_per_prompt"]
        subsets = {"Factuality", "Math", "Precise IF", "Ties"}
        assert set(figures["rewardbench2"]["by_subset"]) == subsets
        vs = figures["vs_trained"]
        difference = sum(c - t["credit"] for c, t in zip(credit, trained, strict=True)) / 22
        assert vs["difference"] == pytest.approx(difference, abs=1e-6)
        a_only = sum(t["credit"] == 1 and c < 1 for c, t in zip(credit, trained, strict=True))
        b_only = sum(c == 1 and t["credit"] < 1 for c, t in zip(credit, trained, strict=True))
        assert vs["pairs"] == 22
        assert vs["p_value"] == pytest.approx(mcnemar_exact(a_only, b_only), abs=1e-6)
        assert vs["difference_ci95"]["low"] <= vs["difference"] <= vs["difference_ci95"]["high"]


def set_params(repo: Path, section: str, **values) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_retraining_does_not_rescore_the_references(repo):
    before = {p: p.read_bytes() for p in sorted((repo / "reports/references").rglob("*.jsonl"))}
    set_params(repo, "train", max_steps=3)
    result = dvc(repo, "repro")
    assert stages_run(result) == ["train", "evaluate"]
    after = {p: p.read_bytes() for p in sorted((repo / "reports/references").rglob("*.jsonl"))}
    assert after == before
    lines = [line for line in result.stdout.splitlines() if "evaluate: reference " in line]
    assert len(lines) == 2 and all(len(line) <= 160 for line in lines), lines


def test_the_trained_models_own_export_differs_by_nothing_on_every_set(repo, outside):
    exported = outside / "self-export"
    with contextlib.chdir(repo):
        export("models/reward_model", exported, metrics_file=None)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["references"]["self"] = {"model": str(exported)}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert stages_run(dvc(repo, "repro")) == ["references", "evaluate"]
    own = metrics(repo)["references"]["self"]
    for figures in (own, *own["sets"].values()):
        assert figures["vs_trained"]["difference"] == 0
        assert figures["vs_trained"]["p_value"] == 1
    assert own["win_rate"] == metrics(repo)["win_rate"]


def test_a_changed_local_reference_is_rescored(repo, outside, tiny_bert, tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, set_seed

    before = (repo / "reports/references/bert/test.jsonl").read_text()
    set_seed(7)  # other weights in the same folder: params unchanged, only its bytes tell
    model = BertForSequenceClassification(BertConfig.from_pretrained(tiny_bert, num_labels=1))
    model.save_pretrained(tmp_path)
    shutil.copy(tmp_path / "model.safetensors", outside / "bert" / "model.safetensors")
    assert stages_run(dvc(repo, "repro")) == ["references", "evaluate"]
    assert (repo / "reports/references/bert/test.jsonl").read_text() != before
