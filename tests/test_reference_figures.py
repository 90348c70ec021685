"""``references.NAME`` figures on a hand-made fixture: pairs matched by content id (reordered, one
pair only the reference has), vs_trained against a hand computation, and the report's table; the
same for a best-of-N set, matched prompt by prompt and compared on the credit."""

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


def test_without_references_the_stage_writes_only_its_index(tmp_path):
    (tmp_path / "params.yaml").write_text("evaluate:\n  sets: {}\n  references: {}\n")
    (tmp_path / "reports/references/stale").mkdir(parents=True)
    with contextlib.chdir(tmp_path):
        references_stage.main(["--params", "params.yaml"])
    folder = tmp_path / "reports/references"
    assert [path.name for path in folder.iterdir()] == ["references.json"]  # the stale one gone
    assert json.loads((folder / "references.json").read_text()) == {"references": []}


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


# --- A best-of-N set: matched prompt by prompt, best-of-N figures, vs_trained on the credit ------
# 30 prompts of four completions (the correct one first), subsets Math (even) / Factuality (odd).
# Trained: 0-19 right (credit 1), 20-23 tied at the top with one incorrect (1/2), 24-29 wrong.
# Reference: 2-25 right, 26-27 tied (1/2), 0-1 and 28-29 wrong. Credits: trained 22/30,
# reference 25/30, difference 3/30. McNemar on full credit: trained-only {0, 1}, reference-only
# {20, ..., 25}, the table of the pairwise case above: p = 2 * 37 / 2^8.
RIGHT, TIED, WRONG = [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]
SUBSETS = ("Math", "Factuality")


def bestofn_rows() -> list[dict]:
    return [
        {"prompt": f"task {i}", "completions": ["right", "w1", "w2", "w3"], "num_correct": 1,
         "category": SUBSETS[i % 2], "id": str(i)}
        for i in range(N)
    ]  # fmt: skip


def trained_rewards(i: int) -> list[float]:
    return RIGHT if i < 20 else TIED if i < 24 else WRONG


def reference_rewards(i: int) -> list[float]:
    return RIGHT if 2 <= i < 26 else TIED if i in (26, 27) else WRONG


def bestofn_metrics(tmp_path) -> dict:
    from rewardlab.evaluation.bestofn import BestOfNSet
    from rewardlab.evaluation.prompt_scores import write_bestofn_scores

    write_reference(tmp_path / "ref", sets=("test",))
    rows = bestofn_rows()
    # The reference's lines in reverse order, plus a prompt evaluate never scored.
    extra = {**rows[0], "prompt": "unseen"}
    ref_rows = [*reversed(rows), extra]
    ref_frame = pd.DataFrame(
        {"rewards": [reference_rewards(i) for i in reversed(range(N))] + [RIGHT],
         "num_correct": [1] * (N + 1)}
    )  # fmt: skip
    write_bestofn_scores(tmp_path / "ref", {"rb2": ref_rows}, {"rb2": ref_frame})
    trained = pd.DataFrame(
        {
            "rewards": [trained_rewards(i) for i in range(N)],
            "untrained_rewards": [WRONG] * N,
            "chars": [[5, 2, 2, 2]] * N,  # the correct completion is the longest
            "num_correct": [1] * N,
            "category": [row["category"] for row in rows],
            "row_id": [row["id"] for row in rows],
        }
    )
    params = EvaluateParams(bootstrap_resamples=2000, references={"ref": REFERENCE})
    return reference_metrics(
        tmp_path,
        {"test": pairs()},
        {"test": trained_frame()},
        params,
        {"rb2": BestOfNSet(rows, [], None)},  # type: ignore[arg-type]
        {"rb2": trained},
    )["ref"]


def test_a_best_of_n_set_gets_best_of_n_figures_and_vs_trained_over_prompts(tmp_path):
    from rewardlab.evaluation.comparison import mcnemar_exact
    from rewardlab.evaluation.stats import bootstrap_mean_ci

    figures = bestofn_metrics(tmp_path)["sets"]["rb2"]
    assert figures["pairs"] == N  # prompts; the one only the reference has is left out
    assert figures["win_rate"] == pytest.approx(25 / 30, abs=1e-6)
    assert (figures["random_win_rate"], figures["completions_per_prompt"]) == (0.25, 4.0)
    assert figures["longer_wins_rate"] == 1.0
    assert "untrained_win_rate" not in figures
    low, high = figures["win_rate_ci95"]["low"], figures["win_rate_ci95"]["high"]
    assert low < 25 / 30 < high
    # Per subset: Math (even) right at 2, 4, ..., 24, half at 26: 12.5 of 15; Factuality the same.
    assert figures["by_category"]["Math"]["win_rate"] == pytest.approx(12.5 / 15, abs=1e-6)
    assert figures["rewardbench2"]["by_subset"] == pytest.approx(
        {"Factuality": 12.5 / 15, "Math": 12.5 / 15}, abs=1e-6
    )
    assert figures["rewardbench2"]["overall"] == pytest.approx(12.5 / 15, abs=1e-6)
    vs = figures["vs_trained"]
    assert vs["pairs"] == N
    assert vs["difference"] == pytest.approx(3 / 30, abs=1e-6)
    assert vs["p_value"] == pytest.approx(2 * 37 / 256, abs=1e-6)
    assert vs["p_value"] == pytest.approx(mcnemar_exact(2, 6), abs=1e-6)
    # The CI is the bootstrap of the per-prompt credit difference (resampling prompts).
    credit = {tuple(RIGHT): 1.0, tuple(TIED): 0.5, tuple(WRONG): 0.0}
    d = [credit[tuple(reference_rewards(i))] - credit[tuple(trained_rewards(i))] for i in range(N)]
    ci_low, ci_high = bootstrap_mean_ci(d, 2000, EvaluateParams().seed)
    assert vs["difference_ci95"] == pytest.approx({"low": ci_low, "high": ci_high}, abs=1e-6)
    assert ci_low < 3 / 30 < ci_high


def test_the_report_shows_a_best_of_n_sets_reference_figures(tmp_path):
    block = bestofn_metrics(tmp_path)
    rb2 = {"pairs": N, "win_rate": 22 / 30, "completions_per_prompt": 4.0}
    metrics = {"pairs": N, "win_rate": 20 / 30, "sets": {"rb2": rb2}, "references": {"ref": block}}
    section = references_section(metrics)
    assert "| rb2 | 30 prompts (best of 4) | 73.3% | 83.3% (≈) |" in section
