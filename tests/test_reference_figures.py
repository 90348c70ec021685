"""``references.NAME`` figures on a hand-made fixture: pairs matched by content id (reordered, one
pair only the reference has), vs_trained against a hand computation, and the report's table."""

from __future__ import annotations

import contextlib
import json

import pandas as pd
import pytest
from datasets import Dataset

from rewardlab.core.errors import UserError
from rewardlab.core.params import EvaluateParams, ReferenceParams
from rewardlab.evaluation.pair_scores import pair_id
from rewardlab.evaluation.reference_figures import describe_reference, reference_metrics
from rewardlab.stages import references as references_stage
from rewardlab.tools.report import references_section

N = 30
# Trained: pairs 0-19 won. Reference: pairs 2-25 won. So trained-only {0, 1}, reference-only
# {20, ..., 25}: discordant 2 and 6; difference (24 - 20) / 30; McNemar p = 2 * (1 + 8 + 28) / 2^8.
HAND = {"difference": 4 / 30, "p_value": 2 * 37 / 256, "pairs": N}
CATEGORIES = ("even", "odd")
REFERENCE = ReferenceParams(model="x/y")


def pairs() -> Dataset:
    rows = [{"prompt": f"question {i}", "chosen": "good", "rejected": "bad"} for i in range(N)]
    return Dataset.from_list([{**row, "category": CATEGORIES[i % 2]} for i, row in enumerate(rows)])


def trained_frame() -> pd.DataFrame:
    won = [i < 20 for i in range(N)]
    return pd.DataFrame(
        {
            "chosen_reward": [1.0 if w else -1.0 for w in won],
            "rejected_reward": [0.0] * N,
            "untrained_chosen_reward": [0.0] * N,
            "untrained_rejected_reward": [0.0] * N,
            "chosen_chars": [4] * N,
            "rejected_chars": [3] * N,
            "chosen_tokens": [5] * N,
            "rejected_tokens": [5] * N,
            "category": [CATEGORIES[i % 2] for i in range(N)],
        }
    )


def write_reference(folder, sets=("test", "extra")) -> None:
    """The reference's files, rows in reverse order, plus a pair evaluate never scored."""
    folder.mkdir(parents=True)
    rows = [
        {
            "id": pair_id(f"question {i}", "good", "bad"),
            "chosen_reward": 0.5,
            "rejected_reward": 0.0 if 2 <= i < 26 else 0.5,  # a tie is a loss
        }
        for i in reversed(range(N))
    ]
    rows.append({"id": pair_id("unseen", "good", "bad"), "chosen_reward": 1, "rejected_reward": 0})
    for name in sets:
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def metrics_for(tmp_path) -> dict:
    write_reference(tmp_path / "ref")
    params = EvaluateParams(
        bootstrap_resamples=2000, references={"ref": ReferenceParams(model="x/y")}
    )
    scored = {"test": pairs(), "extra": pairs()}
    frames = {"test": trained_frame(), "extra": trained_frame()}
    return reference_metrics(tmp_path, scored, frames, params)["ref"]


def test_vs_trained_is_reference_minus_trained_on_the_pairs_both_scored(tmp_path):
    block = metrics_for(tmp_path)
    for figures in (block, block["sets"]["extra"]):
        vs = figures["vs_trained"]
        assert vs["pairs"] == HAND["pairs"]  # the pair only the reference has is left out
        assert vs["difference"] == pytest.approx(HAND["difference"], abs=1e-6)
        assert vs["p_value"] == pytest.approx(HAND["p_value"], abs=1e-6)
        assert vs["difference_ci95"]["low"] < vs["difference"] < vs["difference_ci95"]["high"]
        assert figures["win_rate"] == pytest.approx(24 / 30, abs=1e-6)
        assert "untrained_win_rate" not in figures
    # Per category, on the same pairs: even pairs 2..24 (12 of 15) are the reference's wins.
    assert block["by_category"]["even"]["win_rate"] == pytest.approx(12 / 15, abs=1e-6)
    assert block["by_category"]["even"]["pairs"] == 15
    line = describe_reference("ref", block)
    assert line.startswith("evaluate: reference ref: test win rate 0.800, reference - trained ")
    assert "+0.133, p = 0.29 (no detectable difference)" in line and len(line) <= 160


def test_a_missing_reference_file_says_to_rerun_the_stage(tmp_path):
    write_reference(tmp_path / "ref", sets=("test",))
    params = EvaluateParams(references={"ref": REFERENCE})
    with pytest.raises(UserError, match=r"extra\.jsonl is missing: run `dvc repro references`"):
        reference_metrics(
            tmp_path,
            {"test": pairs(), "extra": pairs()},
            {"test": trained_frame(), "extra": trained_frame()},
            params,
        )


def test_the_report_puts_each_reference_beside_the_trained_model(tmp_path):
    metrics = {"pairs": N, "win_rate": 20 / 30, "sets": {"extra": {"pairs": N, "win_rate": 0.5}}}
    metrics["references"] = {"ref": metrics_for(tmp_path)}
    section = references_section(metrics)
    assert "| set | pairs | trained | ref |" in section
    assert "| test (headline) | 30 | 66.7% | 80.0% (≈) |" in section
    assert "| extra | 30 | 50.0% | 80.0% (≈) |" in section
    assert references_section({"pairs": 3, "win_rate": 1.0}) == ""


def test_without_references_the_stage_writes_an_empty_folder(tmp_path):
    (tmp_path / "params.yaml").write_text("evaluate:\n  sets: {}\n  references: {}\n")
    (tmp_path / "reports/references/stale").mkdir(parents=True)
    with contextlib.chdir(tmp_path):
        references_stage.main(["--params", "params.yaml"])
    assert list((tmp_path / "reports/references").iterdir()) == []


def test_this_pipelines_own_model_is_refused_as_a_reference(tmp_path):
    (tmp_path / "data/prepared").mkdir(parents=True)
    pair = {"prompt": "p", "chosen": "a", "rejected": "b"}
    (tmp_path / "data/prepared/test.jsonl").write_text(json.dumps(pair) + "\n")
    (tmp_path / "params.yaml").write_text(
        "evaluate:\n  sets: {}\n  references:\n    me: {model: models/reward_model}\n"
    )
    (tmp_path / "models/reward_model").mkdir(parents=True)
    with contextlib.chdir(tmp_path), pytest.raises(UserError, match="is the model this pipeline"):
        references_stage.main(["--params", "params.yaml"])
    assert not (tmp_path / "reports/references").exists()  # nothing half-written
