"""Evaluation sets in the real DVC pipeline: every layout is scored under its own name, and DVC
reruns exactly what a changed local file feeds (fingerprint stage), on a tiny GPT-2 config.

The first run's stages execute in this process (their imports are already paid for) and
``dvc commit`` records them in dvc.lock, as after a ``dvc repro``; after an edit, ``dvc repro``
runs the fingerprint stage itself and decides what to rerun.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from pathlib import Path

import pytest

from conftest import toy_pairs, write_jsonl
from dvc_repo import dvc, make_repo
from hub_fixtures import (
    write_hh_rlhf,
    write_reward_bench,
    write_reward_bench_2,
    write_ultrafeedback,
)

pytestmark = pytest.mark.e2e

STAGES = ("prepare", "featurize", "train", "references", "evaluate")
ALL_STAGES = ("fingerprint", *STAGES)


def stages_run(result) -> list[str]:
    output = result.stdout + result.stderr
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def categorised(n: int, categories: list[str]) -> list[dict]:
    return [{**pair, "category": categories[i % len(categories)]}
            for i, pair in enumerate(toy_pairs(n))]  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2: Path) -> Path:
    outside = tmp_path_factory.mktemp("outside-the-repo")
    train = write_jsonl(outside / "train.jsonl", toy_pairs(40))
    standard = write_jsonl(outside / "standard.jsonl", categorised(9, ["vague", "rude"]))
    write_reward_bench(outside / "reward-bench", filtered=8)  # 4 subsets, 2 pairs each
    write_hh_rlhf(outside / "hh-rlhf", train=4, test=5)  # implicit prompts
    write_ultrafeedback(outside / "ultrafeedback", train=4, test=6)  # conversations
    write_reward_bench_2(outside / "reward-bench-2", prompts=6, ties=1)  # best-of-N, 8 prompts
    overrides = {
        "data": {"source": str(train)},
        "model": {"name_or_path": str(tiny_gpt2)},
        "featurize": {"max_length": 48},
        "train": {"max_steps": 2, "per_device_train_batch_size": 4, "eval_steps": 2},
        "evaluate": {
            "batch_size": 16,
            "bootstrap_resamples": 200,
            "sets": {
                "everyday": {"source": "data/eval/everyday.jsonl"},
                "standard": {"source": str(standard)},
                "rewardbench": {"source": str(outside / "reward-bench"), "split": "filtered"},
                "hh": {"source": str(outside / "hh-rlhf"), "split": "test"},
                "chats": {"source": str(outside / "ultrafeedback"), "split": "test_prefs"},
                "rb2": {"source": str(outside / "reward-bench-2"), "split": "test"},
            },
        },
    }
    repo = make_repo(tmp_path_factory.mktemp("evalsets"), overrides)
    with contextlib.chdir(repo):
        for name in ALL_STAGES:
            importlib.import_module(f"rewardlab.stages.{name}").main(["--params", "params.yaml"])
    dvc(repo, "commit", "--force")
    status = dvc(repo, "status").stdout
    assert "fingerprint" in status and "evaluate" not in status  # always changed; nothing else
    return repo


def metrics(repo: Path) -> dict:
    return json.loads((repo / "reports/metrics.json").read_text())


def test_every_set_is_scored_under_its_name_with_categories_and_sections(repo):
    sets = metrics(repo)["sets"]
    assert set(sets) == {"everyday", "standard", "rewardbench", "hh", "chats", "rb2"}
    everyday_rows = (repo / "data/eval/everyday.jsonl").read_text().splitlines()
    assert sets["everyday"]["pairs"] == len(everyday_rows)
    assert len(sets["everyday"]["by_category"]) >= 5
    assert (sets["standard"]["pairs"], sets["hh"]["pairs"], sets["chats"]["pairs"]) == (9, 5, 6)
    assert {name: b["pairs"] for name, b in sets["standard"]["by_category"].items()} == {
        "vague": 5,
        "rude": 4,
    }
    rewardbench = sets["rewardbench"]
    assert {name: b["pairs"] for name, b in rewardbench["by_category"].items()} == {
        "alpacaeval-easy": 2, "mt-bench-hard": 2, "refusals-dangerous": 2, "math-prm": 2,
    }  # fmt: skip
    accuracy = {name: b["win_rate"] for name, b in rewardbench["by_category"].items()}
    # One subset per section here, so each section is that subset's accuracy.
    assert rewardbench["sections"] == pytest.approx(
        {
            "Chat": accuracy["alpacaeval-easy"],
            "Chat Hard": accuracy["mt-bench-hard"],
            "Safety": accuracy["refusals-dangerous"],
            "Reasoning": accuracy["math-prm"],
        },
        abs=1e-6,
    )
    for block in sets.values():
        assert {"win_rate_ci95", "untrained_win_rate", "longer_wins_rate"} <= set(block)


def test_a_best_of_n_set_is_scored_per_prompt_with_rewardbench2_scores(repo):
    """The RewardBench 2 layout through the real evaluate: one line per prompt in
    reports/pairs/rb2.jsonl, the figures recomputed from those lines' rewards."""
    from rewardlab.evaluation.rewardbench2 import Prompt, reroll_result, ties_score
    from rewardlab.evaluation.stats import top_credit

    block = metrics(repo)["sets"]["rb2"]
    lines = [
        json.loads(line) for line in (repo / "reports/pairs/rb2.jsonl").read_text().splitlines()
    ]
    assert block["pairs"] == len(lines) == 8
    assert [len(line["rewards"]) for line in lines] == [4] * 7 + [5]
    assert block["completions_per_prompt"] == pytest.approx(33 / 8, abs=1e-6)
    assert block["random_win_rate"] == pytest.approx((7 / 4 + 3 / 5) / 8, abs=1e-6)
    credit = [top_credit(line["rewards"], line["num_correct"]) for line in lines]
    assert [line["credit"] for line in lines] == pytest.approx(credit, abs=1e-6)
    assert block["win_rate"] == pytest.approx(sum(credit) / 8, abs=1e-6)
    assert {name: b["pairs"] for name, b in block["by_category"].items()} == {
        "Factuality": 2, "Math": 2, "Precise IF": 2, "Ties": 2,
    }  # fmt: skip
    scores = block["rewardbench2"]["by_subset"]
    for name in ("Factuality", "Math", "Precise IF"):
        rows = [line for line in lines if line["category"] == name]
        assert scores[name] == pytest.approx(
            sum(reroll_result(r["rewards"]) for r in rows) / 2, abs=1e-6
        )
    ties = [Prompt(r["rewards"], r["num_correct"], "Ties", i)
            for r, i in zip(lines[-2:], ["ref:0", "tied:0"], strict=True)]  # fmt: skip
    assert scores["Ties"] == pytest.approx(ties_score(ties), abs=1e-6)
    assert block["rewardbench2"]["overall"] == pytest.approx(sum(scores.values()) / 4, abs=1e-6)
    overlap = block["overlap"]  # counted in prompts; `report` leaves every prompt in
    assert overlap["excluded_pairs"] == 0 and overlap["exact_pairs"] <= overlap["ngram_pairs"] <= 8


def test_editing_one_row_of_an_evaluation_set_reruns_only_references_and_evaluate(repo):
    path = Path(json.loads((repo / "data/fingerprints/evaluation_sets.json").read_text())
                ["standard"]["source"])  # fmt: skip
    rows = path.read_text().splitlines()
    rows[0] = json.dumps({**json.loads(rows[0]), "rejected": "No."})
    path.write_text("\n".join(rows) + "\n")
    assert stages_run(dvc(repo, "repro")) == ["references", "evaluate"]
    assert metrics(repo)["sets"]["standard"]["pairs"] == 9
    assert metrics(repo)["sets"]["rb2"]["pairs"] == 8  # the best-of-N set, by `dvc repro`


def test_editing_one_row_of_the_training_source_makes_dvc_rerun_prepare(repo):
    path = Path(json.loads((repo / "data/fingerprints/training_source.json").read_text())["source"])
    rows = path.read_text().splitlines()
    rows[-1] = json.dumps({**json.loads(rows[-1]), "chosen": "A different good answer."})
    path.write_text("\n".join(rows) + "\n")
    # Up to the fingerprint only (that a changed dependency reruns a stage and what follows is
    # DVC's own, tested in test_pipeline.py): DVC now sees prepare's input changed, and only it.
    assert stages_run(dvc(repo, "repro", "fingerprint")) == []
    status = json.loads(dvc(repo, "status", "--json").stdout)
    assert status == {
        "fingerprint": ["always changed"],
        "prepare": [{"changed deps": {"data/fingerprints/training_source.json": "modified"}}],
    }
