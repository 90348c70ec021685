"""Best-of-N evaluation sets (RewardBench 2's layout): accuracies, the Ties score and the overall
figure worked by hand and checked against the ``rewardbench`` package's own formulas; the
prompt-level CI and baselines; cleaning, conversations and rendering; per-prompt lines for diff.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_jsonl
from rewardlab.core.errors import UserError
from rewardlab.core.params import EvalSetParams, EvaluateParams, ModelParams
from rewardlab.evaluation.bestofn import BestOfNSet, clean_rows, is_bestofn, score_bestofn
from rewardlab.evaluation.bestofn_summary import credits, summarize_bestofn
from rewardlab.evaluation.comparison import compare_sets, mcnemar_exact
from rewardlab.evaluation.evalsets import load_evaluation_sets
from rewardlab.evaluation.pair_scores import pair_id, read_pair_scores
from rewardlab.evaluation.prompt_scores import bestofn_records, write_bestofn_scores
from rewardlab.evaluation.rewardbench2 import (
    Prompt,
    check_ties_ids,
    rewardbench2_scores,
    ties_score,
)
from rewardlab.evaluation.stats import bootstrap_mean_ci, top_credit
from rewardlab.model.loading import load_tokenizer


# --- The reference: the rewardbench package's lines (version 0.1.4, PyPI sdist), copied ---------
def package_result(scores: list[float]) -> float:
    """rewardbench/utils.py, reroll_and_score_dataset: "# penalty for ties"."""
    scores = np.asarray(scores)
    max_val = np.max(scores)
    return (1 / np.sum(scores == max_val)) if scores[0] == max_val else 0


def package_sample_stats(scored_samples: dict) -> dict:
    """rewardbench/utils.py, sample_stats (the keys process_single_model reads)."""
    correct_samples = [s for s in scored_samples.values() if s["correct"]]
    incorrect_samples = [s for s in scored_samples.values() if not s["correct"]]
    if not correct_samples or not incorrect_samples:
        return {"accurate": False, "different_correct_margin": None, "correct_incorrect_margin": 0}
    best_correct = max(correct_samples, key=lambda x: x["scores"][0])
    worst_correct = min(correct_samples, key=lambda x: x["scores"][0])
    best_incorrect = max(incorrect_samples, key=lambda x: x["scores"][0])
    different_correct_margin = (
        best_correct["scores"][0] - worst_correct["scores"][0] if len(correct_samples) > 1 else None
    )
    correct_incorrect_margin = worst_correct["scores"][0] - best_incorrect["scores"][0]
    return {
        "accurate": worst_correct["scores"][0] > best_incorrect["scores"][0],
        "different_correct_margin": different_correct_margin,
        "correct_incorrect_margin": correct_incorrect_margin,
    }


def package_ties_score(dataset: list[dict]) -> float:
    """rewardbench/utils.py, process_single_model: its overall_score, line for line."""
    from collections import defaultdict

    results = {k: defaultdict(dict) for k in ["ref", "tied"]}
    for sample in dataset:
        sample_type, prompt_id = sample["id"].split(":")
        prompt_id = int(prompt_id)
        for i, score in enumerate(sample["scores"]):
            is_correct = i < sample["num_correct"]
            results[sample_type][prompt_id][i] = {"correct": is_correct, "scores": [score]}
    stats = {
        k: {pid: package_sample_stats(s) for pid, s in type_results.items()}
        for k, type_results in results.items()
    }
    ref_stats, tied_stats = stats.get("ref", {}), stats.get("tied", {})
    accuracy = {
        "ref": np.mean([r["accurate"] for r in ref_stats.values()]) if ref_stats else 0,
        "tied": np.mean([r["accurate"] for r in tied_stats.values()]) if tied_stats else 0,
    }
    common_prompt_ids = set(ref_stats.keys()) & set(tied_stats.keys())
    if common_prompt_ids:
        t, rf = tied_stats, ref_stats
        ids = [r for r in common_prompt_ids if t[r]["different_correct_margin"] is not None]
        correctness_preferred = np.mean(
            [t[r]["correct_incorrect_margin"] > t[r]["different_correct_margin"] for r in ids]
        )
        correctness_preferred_hard = np.mean(
            [
                min(rf[r]["correct_incorrect_margin"], t[r]["correct_incorrect_margin"])
                > t[r]["different_correct_margin"]
                for r in ids
            ]
        )
        correctness_margin_ratios = [
            min(rf[r]["correct_incorrect_margin"], t[r]["correct_incorrect_margin"])
            / t[r]["different_correct_margin"]
            for r in ids
            if t[r]["different_correct_margin"] > 0
        ]
        correctness_margin_score = (
            np.mean([math.tanh(r - 1) for r in correctness_margin_ratios])
            if correctness_margin_ratios
            else 0
        )
    else:
        correctness_preferred = correctness_preferred_hard = correctness_margin_score = 0
    return (
        0.3 * accuracy["tied"]
        + 0.3 * accuracy["ref"]
        + 0.2 * correctness_preferred
        + 0.2 * correctness_preferred_hard
        + 0.01 * correctness_margin_score
    )


# --- A scored fixture in RewardBench 2's layout -------------------------------------------------
# (subset, id, num_correct, trained rewards (correct first), untrained rewards, lengths)
PROMPTS = [
    ("Factuality", "0", 1, [3, 1, 2, 0], [0, 1, 0, 0], [9, 20, 5, 5]),  # right: credit 1
    ("Factuality", "1", 1, [2, 2, 1, 0], [1, 1, 1, 1], [30, 30, 9, 9]),  # tied with one: 1/2
    ("Math", "2", 1, [1, 3, 3, 3], [3, 0, 0, 0], [4, 40, 9, 9]),  # below the top: 0
    ("Math", "3", 1, [5, 5, 5, 5], [0, 0, 0, 1], [50, 9, 9, 9]),  # all four tied: 1/4
    ("Ties", "ref:0", 1, [4, 1, 2, 3], [0, 1, 0, 0], [9, 9, 9, 9]),
    ("Ties", "tied:0", 3, [5, 4, 3.5, 3, 1], [0, 0, 0, 0, 1], [9, 9, 9, 20, 9]),
    ("Ties", "ref:1", 1, [6, 1, 1, 1], [1, 0, 0, 0], [9, 9, 9, 9]),
    ("Ties", "tied:1", 2, [9, 8.5, 2, 1], [0, 0, 1, 1], [9, 9, 9, 9]),
    ("Ties", "tied:2", 2, [2, 2, 2, 0], [0, 0, 0, 0], [9, 9, 9, 9]),  # 2 of 3 at the top: 2/3
]
CREDITS = [1, 1 / 2, 0, 1 / 4, 1, 1, 1, 1, 2 / 3]


def fixture_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"category": s, "row_id": i, "num_correct": k, "rewards": r,
             "untrained_rewards": u, "chars": c}
            for s, i, k, r, u, c in PROMPTS
        ]
    )  # fmt: skip


def test_credit_is_the_packages_rule_for_one_correct_and_shares_ties_at_the_top():
    frame = fixture_frame()
    assert credits(frame["rewards"], frame["num_correct"]).tolist() == pytest.approx(CREDITS)
    for _, _, k, rewards, _, _ in PROMPTS:
        if k == 1:  # every subset but Ties: exactly reroll_and_score_dataset's result
            assert top_credit(rewards, k) == pytest.approx(package_result(rewards))
    # Several correct ones: the share of the top that is correct (the package's reroll looks at
    # the first correct one only; its Ties figure is the weighted score, tested below).
    assert top_credit([2, 2, 2, 0], 2) == pytest.approx(2 / 3)


def test_the_ties_score_is_process_single_models_and_hand_worked():
    ties = [p for p in PROMPTS if p[0] == "Ties"]
    ours = ties_score([Prompt(r, k, s, i) for s, i, k, r, _, _ in ties])
    reference = package_ties_score(
        [{"id": i, "scores": r, "num_correct": k} for _, i, k, r, _, _ in ties]
    )
    # By hand: ref accuracy 2/2; tied 2/3 (tied:2's worst correct 2 is not above 2); of the two
    # prompts with both rows, prompt 1 prefers correctness (margins 6.5 and min(5, 6.5) = 5 over
    # the correct ones' spread 0.5), prompt 0 not (0.5 and 0.5 against 1.5); margin ratios
    # 0.5 / 1.5 and 5 / 0.5.
    margin_score = (math.tanh(1 / 3 - 1) + math.tanh(10 - 1)) / 2
    by_hand = 0.3 * 2 / 3 + 0.3 * 1 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * margin_score
    assert ours == pytest.approx(reference, abs=1e-12)
    assert ours == pytest.approx(by_hand, abs=1e-12)


def test_a_set_reports_best_of_n_rates_per_subset_and_rewardbench2_scores():
    block = summarize_bestofn(fixture_frame(), EvaluateParams(bootstrap_resamples=2000))
    assert block["pairs"] == 9
    assert block["win_rate"] == pytest.approx(np.mean(CREDITS), abs=1e-6)
    # Untrained: prompts 2 and ref:1 right; 1 all four tied (1/4); tied:2 all tied, 2 of them
    # correct (2/4); the rest have an incorrect completion alone at the top.
    assert block["untrained_win_rate"] == pytest.approx((2 + 1 / 4 + 2 / 4) / 9, abs=1e-6)
    # Longest wins: 0 no (20 > 9); 1 tied 30/30 (1/2); 2 no; 3 yes; ref:0 all equal (1/4);
    # tied:0 no (20 incorrect); ref:1 1/4; tied:1 2/4; tied:2 2/4.
    longer = (0 + 1 / 2 + 0 + 1 + 1 / 4 + 0 + 1 / 4 + 2 / 4 + 2 / 4) / 9
    assert block["longer_wins_rate"] == pytest.approx(longer, abs=1e-6)
    chance = np.mean([k / len(r) for _, _, k, r, _, _ in PROMPTS])
    assert block["random_win_rate"] == pytest.approx(chance, abs=1e-6)
    assert block["completions_per_prompt"] == pytest.approx(37 / 9, abs=1e-6)
    low, high = block["win_rate_ci95"].values()
    assert low < block["win_rate"] < high
    assert set(block["by_category"]) == {"Factuality", "Math", "Ties"}
    math_block = block["by_category"]["Math"]
    assert (math_block["pairs"], math_block["win_rate"]) == (2, 0.125)
    assert block["by_category"]["Factuality"]["win_rate"] == 0.75
    rb2 = block["rewardbench2"]
    ties = [p for p in PROMPTS if p[0] == "Ties"]
    ties_reference = package_ties_score(
        [{"id": i, "scores": r, "num_correct": k} for _, i, k, r, _, _ in ties]
    )
    # run_v2.py: a subset is sum(results) / len(results), Ties its weighted score; overall the mean.
    expected = {"Factuality": 0.75, "Math": 0.125, "Ties": ties_reference}
    assert rb2["by_subset"] == pytest.approx(expected, abs=1e-6)
    assert rb2["overall"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)


def test_a_set_without_subsets_has_no_rewardbench2_block_and_bad_ties_ids_say_so():
    frame = fixture_frame().assign(category=None)
    block = summarize_bestofn(frame, EvaluateParams(bootstrap_resamples=100))
    assert "by_category" not in block and "rewardbench2" not in block
    assert rewardbench2_scores([]) is None
    with pytest.raises(UserError, match="Ties row's id is '7'"):
        ties_score([Prompt([1, 0], 1, "Ties", "7")])
    with pytest.raises(
        UserError, match=r"evaluate\.sets\.x: a row of the Ties subset has the id '7'"
    ):
        check_ties_ids([("Math", "7"), ("ties", "7"), ("Ties", "ref:1")], "evaluate.sets.x")
    check_ties_ids([("Math", "7"), ("Ties", "tied:3"), (None, None)], "evaluate.sets.x")


def test_the_prompt_level_bootstrap_matches_resampling_prompts():
    values = np.repeat([0.0, 1 / 4, 1 / 2, 1.0], [30, 10, 20, 40])
    low, high = bootstrap_mean_ci(values, 20000, 0)
    rng = np.random.default_rng(1)
    means = values[rng.integers(0, values.size, (20000, values.size))].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=0.01)
    assert bootstrap_mean_ci(np.ones(5), 100, 0) == (1.0, 1.0)
    assert bootstrap_mean_ci(np.zeros(0), 100, 0) == (0.0, 0.0)


# --- Rows: detection, cleaning, conversations, rendering -----------------------------------------
def rb2_row(i: int, subset: str = "Factuality", chosen: int = 1, rejected: int = 3) -> dict:
    return {
        "id": str(i),
        "prompt": f"Question {i}: what is {i} + {i}?",
        "chosen": [f"It is {2 * i} (way {j})." for j in range(chosen)],
        "rejected": [f"It is {2 * i + j + 1}." for j in range(rejected)],
        "num_correct": chosen,
        "num_rejected": rejected,
        "total_completions": chosen + rejected,
        "models": ["a"] * (chosen + rejected),
        "subset": subset,
    }


def test_rows_with_lists_of_completions_are_best_of_n_and_are_cleaned_with_reasons():
    rows = [{**rb2_row(i), "category": "F"} for i in range(4)]
    pairs = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    conversation = [{"role": "assistant", "content": "a"}]
    assert is_bestofn(rows) and not is_bestofn(pairs)
    assert not is_bestofn([{"prompt": "p", "chosen": conversation, "rejected": conversation}])
    rows += [
        rows[0],  # duplicate
        {**rb2_row(5), "rejected": []},  # no incorrect completion: empty
        {**rb2_row(6), "chosen": ["  "]},  # empty
        {**rb2_row(7), "rejected": [[{"role": "assistant", "content": "x"}]]},  # mixed_format
        {**rb2_row(8), "prompt": None},  # missing
        {**rb2_row(9), "chosen": "one text"},  # bad_type
    ]
    kept, fmt, dropped = clean_rows(rows, "auto", "evaluate.sets.x")
    assert (len(kept), fmt.type) == (4, "standard")
    assert dropped == {"duplicate": 1, "empty": 2, "mixed_format": 1, "missing": 1, "bad_type": 1}
    assert kept[1] == {
        "prompt": "Question 1: what is 1 + 1?",
        "completions": ["It is 2 (way 0).", "It is 3.", "It is 4.", "It is 5."],
        "num_correct": 1,
        "category": "F",
        "id": "1",
    }
    with pytest.raises(UserError, match=r"evaluate\.sets\.x: no row holds a prompt"):
        clean_rows(rows, "conversational", "evaluate.sets.x")


def conversational_row() -> dict:
    prompt = [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "2 + 2?"}]
    return {
        "id": "ref:0",
        "prompt": prompt,
        "chosen": [[{"role": "assistant", "content": "4."}]],
        # A whole conversation (the prompt's turns first) and a two-turn answer.
        "rejected": [
            [*prompt, {"role": "assistant", "content": "5."}],
            [
                {"role": "assistant", "content": "3?"},
                {"role": "user", "content": "sure?"},
                {"role": "assistant", "content": "3."},
            ],
        ],
        "subset": "Ties",
    }


def test_conversational_rows_are_dropped_for_the_reasons_a_pair_would_be():
    row = conversational_row()
    user_only = [{"role": "user", "content": "x"}]
    rows = [
        row,
        {**row, "rejected": [user_only]},  # no_assistant_turn
        {**row, "chosen": [[{"role": "bot", "content": "4."}]]},  # bad_message
        {**row, "prompt": []},  # empty
        {**row, "chosen": ["4."]},  # mixed_format: a text among conversations
    ]
    kept, fmt, dropped = clean_rows(rows, "auto", "evaluate.sets.x")
    assert (len(kept), fmt.type) == (1, "conversational")
    assert dropped == {"no_assistant_turn": 1, "bad_message": 1, "empty": 1, "mixed_format": 1}
    assert kept[0]["prompt"] == row["prompt"]


def metadata(model: Path) -> dict:
    return {
        "model": {"name_or_path": str(model)},
        "template": "\n\nHuman: {prompt}\n\nAssistant: {response}",
        "rendering": {"format": "standard", "prompt": "explicit", "chat_template": None},
        "max_length": 64,
    }


def test_a_conversational_row_is_rendered_as_a_pairwise_set_of_conversations(tmp_path, tiny_gpt2):
    row = conversational_row()
    bon = write_jsonl(tmp_path / "bon.jsonl", [row])
    answers = [row["chosen"][0], row["rejected"][0][2:], row["rejected"][1]]
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"prompt": row["prompt"], "chosen": answers[i], "rejected": answers[i + 1]}
         for i in range(2)],
    )  # fmt: skip
    sets = load_evaluation_sets(
        {"bon": EvalSetParams(source=str(bon)), "pairs": EvalSetParams(source=str(pairs))},
        metadata(tiny_gpt2),
        True,
    )
    bestofn, pairwise = sets["bon"], sets["pairs"]
    assert isinstance(bestofn, BestOfNSet) and bestofn.fmt.type == "conversational"
    assert bestofn.rows[0]["completions"] == answers  # the prompt's turns cut from the second
    assert (bestofn.rows[0]["num_correct"], bestofn.rows[0]["id"]) == (1, "ref:0")
    assert bestofn.rows[0]["category"] == "Ties"  # from `subset`
    ids = [*pairwise["chosen_ids"], pairwise["rejected_ids"][-1]]
    assert bestofn.input_ids == ids  # the very ids a pairwise set's sides get
    # Any scorer of (prompt, completion) pairs: here the completion's length in messages.
    rewards = score_bestofn(bestofn, lambda prompts, completions: [len(c) for c in completions])
    assert [r.tolist() for r in rewards] == [[1.0, 1.0, 3.0]]


def test_text_rows_get_the_ids_a_pairwise_text_set_gets(tmp_path, tiny_gpt2):
    row = rb2_row(3, rejected=2)
    bon = write_jsonl(tmp_path / "bon.jsonl", [row])
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"prompt": row["prompt"], "chosen": row["chosen"][0], "rejected": r}
         for r in row["rejected"]],
    )  # fmt: skip
    sets = load_evaluation_sets(
        {"bon": EvalSetParams(source=str(bon)), "pairs": EvalSetParams(source=str(pairs))},
        metadata(tiny_gpt2),
        False,
    )
    pairwise = sets["pairs"]
    assert sets["bon"].input_ids == [pairwise["chosen_ids"][0], *pairwise["rejected_ids"]]
    tokenizer = load_tokenizer(ModelParams(name_or_path=str(tiny_gpt2)))
    assert tokenizer.decode(sets["bon"].input_ids[0]).startswith("\n\nHuman: Question 3")


# --- Per-prompt lines and diff --------------------------------------------------------------------
def test_per_prompt_lines_carry_a_content_id_rewards_and_credit(tmp_path):
    rows = [
        {"prompt": "p", "completions": ["a", "b", "c"], "num_correct": 1, "category": "x"},
        {"prompt": "q", "completions": ["a", "b"], "num_correct": 1, "category": None},
    ]
    frame = pd.DataFrame({"rewards": [[1.0, 1.0, 0.0], [0.1234567, 0.0]], "num_correct": [1, 1]})
    records = list(bestofn_records(rows, frame))
    assert records[0] == {
        "id": pair_id("p", ["a"], ["b", "c"]),
        "rewards": [1.0, 1.0, 0.0],
        "num_correct": 1,
        "credit": 0.5,
        "category": "x",
    }
    assert records[1]["rewards"] == [0.123457, 0.0] and "category" not in records[1]
    write_bestofn_scores(tmp_path, {"bon": rows}, {"bon": frame})
    read = read_pair_scores((tmp_path / "bon.jsonl").read_text().splitlines())
    assert read["credit"].tolist() == [0.5, 1.0]
    assert read["chosen_reward"].isna().all()


def bestofn_lines(credit: list[float]) -> pd.DataFrame:
    """A best-of-N set's lines as read back: prompt i with the given credit."""
    return pd.DataFrame(
        {"id": [f"p{i}" for i in range(len(credit))], "chosen_reward": np.nan,
         "rejected_reward": np.nan, "category": ["x"] * len(credit), "credit": credit}
    )  # fmt: skip


def test_diff_on_a_best_of_n_set_takes_credit_for_rates_and_full_credit_for_mcnemar():
    # A: 20 prompts right, 20 tied with one other (1/2). B: 8 of A's right ones tied at the top
    # (1/2), 3 of A's half-credit ones right, the rest as A.
    a = [1.0] * 20 + [0.5] * 20
    b = [0.5] * 8 + [1.0] * 12 + [1.0] * 3 + [0.5] * 17
    block = compare_sets(bestofn_lines(a), bestofn_lines(b), resamples=2000, seed=0)
    assert block["pairs"] == 40
    assert block["a_win_rate"] == 0.75
    assert block["b_win_rate"] == pytest.approx((8 * 0.5 + 15 + 17 * 0.5) / 40, abs=1e-6)
    assert block["difference"] == pytest.approx((-8 * 0.5 + 3 * 0.5) / 40, abs=1e-6)
    assert block["discordant"] == {"a_only": 8, "b_only": 3}  # "right" = full credit
    assert block["p_value"] == pytest.approx(mcnemar_exact(8, 3), abs=1e-6)
    ci = block["difference_ci95"]
    assert ci["low"] < block["difference"] < ci["high"] <= 0.05
    assert block["by_category"]["x"]["pairs"] == 40
    same = compare_sets(bestofn_lines(a), bestofn_lines(a), resamples=200, seed=0)
    assert (same["difference"], same["difference_ci95"]) == (0.0, {"low": 0.0, "high": 0.0})
