"""The paired statistics of ``rewardlab diff`` on tables worked by hand, and the per-pair files
evaluate writes for it (content ids, rounding, matching across reordered sets)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from datasets import Dataset

from rewardlab.evaluation.comparison import (
    MIN_PAIRS,
    compare_outcomes,
    compare_runs,
    compare_sets,
    detectable_difference,
    holm,
    match_pairs,
    mcnemar_exact,
    paired_bootstrap_ci,
    smallest_significant_count,
)
from rewardlab.evaluation.pair_scores import (
    pair_id,
    pair_records,
    read_pair_scores,
    write_pair_scores,
)


def table(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair outcomes of runs A and B with these counts of the 2x2 table."""
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return np.array(a), np.array(b)


# --- exact McNemar ---------------------------------------------------------------------------


def test_mcnemar_exact_matches_the_binomial_tail_worked_by_hand():
    # b = 1, c = 9: 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024.
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375, rel=1e-15)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    # b = 2, c = 8: 2 * (1 + 10 + 45) / 1024.
    assert mcnemar_exact(2, 8) == pytest.approx(112 / 1024, rel=1e-15)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64, rel=1e-15)
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32, rel=1e-15)


def test_mcnemar_without_evidence_is_one():
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pairs: nothing to test
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(3, 4) == 1.0  # 2 * (1 + 7 + 21 + 35) / 128 = 1, capped


def test_mcnemar_stays_exact_for_many_discordant_pairs():
    # 10,000 discordant pairs, 200 more favouring B: z = 200 / sqrt(10,000) = 2, so the normal
    # approximation with continuity correction gives about 0.0466; the exact value is close.
    p = mcnemar_exact(4900, 5100)
    assert 0.044 < p < 0.048
    assert mcnemar_exact(0, 2000) < 1e-300  # 2 / 2^2000: no overflow on the way


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_six_one_sided_pairs_are_the_fewest_the_exact_test_detects():
    assert smallest_significant_count(0.05) == 6
    assert smallest_significant_count(0.01) == 8  # 2/2^7 = 0.0156, 2/2^8 = 0.0078


# --- Holm ------------------------------------------------------------------------------------


def test_holm_on_known_p_values():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> monotone 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_skips_tests_not_run_and_caps_at_one():
    assert holm([0.2, None, 0.01]) == pytest.approx([0.2, None, 0.02])
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([]) == []
    assert holm([0.04]) == [0.04]  # one test: nothing to correct


# --- paired bootstrap ------------------------------------------------------------------------


def test_the_paired_bootstrap_of_identical_runs_is_degenerate():
    a, _ = table(60, 0, 0, 40)
    assert paired_bootstrap_ci(a, a.copy(), 2000, seed=0) == (0.0, 0.0)


def test_the_paired_bootstrap_covers_the_true_difference():
    # Pairs drawn so that B wins 5 points more often than A on average.
    rng = np.random.default_rng(1)
    n = 3000
    a = rng.random(n) < 0.70
    b = np.where(rng.random(n) < 0.8, a, rng.random(n) < 0.95)  # same as A on 80% of pairs
    true = 0.2 * (0.95 - 0.70)  # = 0.05
    low, high = paired_bootstrap_ci(a, b, 5000, seed=0)
    assert low < true < high
    assert low < b.mean() - a.mean() < high
    # Pairing: far narrower than two independent 95% CIs would suggest (~+-0.023 each).
    assert high - low < 0.035


def test_the_paired_bootstrap_equals_resampling_pairs_jointly():
    a, b = table(50, 8, 17, 25)  # difference (17 - 8) / 100 = 0.09
    rng = np.random.default_rng(0)
    index = rng.integers(0, a.size, size=(20000, a.size))
    joint = b[index].mean(axis=1) - a[index].mean(axis=1)
    expected = np.quantile(joint, [0.025, 0.975])
    low, high = paired_bootstrap_ci(a, b, 20000, seed=0)
    assert (low, high) == pytest.approx(tuple(expected), abs=0.011)


def test_the_paired_bootstrap_is_seeded():
    a, b = table(50, 8, 17, 25)
    assert paired_bootstrap_ci(a, b, 500, seed=3) == paired_bootstrap_ci(a, b, 500, seed=3)


# --- detectable difference -------------------------------------------------------------------


def test_detectable_difference_is_the_normal_mde_of_the_paired_differences():
    a, b = table(45, 10, 10, 35)  # d: 10 of -1, 10 of +1: mean 0, sd sqrt(0.2)
    expected = (1.959964 + 0.841621) * math.sqrt(0.2) / math.sqrt(100)
    assert detectable_difference(a, b) == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(0.1253, abs=1e-4)


def test_detectable_difference_is_floored_at_what_the_exact_test_can_ever_show():
    a, b = table(700, 0, 1, 299)  # one discordant pair: the normal MDE would promise 0.003
    assert detectable_difference(a, b) == pytest.approx(6 / 1000)
    same, _ = table(70, 0, 0, 30)
    assert detectable_difference(same, same) == pytest.approx(6 / 100)


# --- one comparison, a set, runs ---------------------------------------------------------------


def test_one_comparison_reports_the_table():
    a, b = table(50, 1, 9, 40)
    block = compare_outcomes(a, b, resamples=2000, seed=0)
    assert block["pairs"] == 100
    assert block["a_win_rate"] == 0.51
    assert block["b_win_rate"] == 0.59
    assert block["difference"] == pytest.approx(0.08)
    assert block["discordant"] == {"a_only": 1, "b_only": 9}
    assert block["p_value"] == pytest.approx(0.021484, abs=1e-6)
    assert block["difference_ci95"]["low"] < 0.08 < block["difference_ci95"]["high"]
    assert block["comparable"] is True


def test_too_few_shared_pairs_are_not_comparable():
    a, b = table(MIN_PAIRS - 5, 0, 4, 0)
    block = compare_outcomes(a, b)
    assert block["comparable"] is False
    assert block["pairs"] == MIN_PAIRS - 1
    assert block["p_value"] is None
    assert block["difference_ci95"] == {"low": None, "high": None}


def scores(ids: list[str], won: list[bool], categories: list[str] | None = None) -> pd.DataFrame:
    """A frame as read_pair_scores returns it; a lost pair is a tie (ties lose)."""
    return pd.DataFrame(
        {
            "id": ids,
            "chosen_reward": [1.0 if w else 0.5 for w in won],
            "rejected_reward": [0.5] * len(ids),
            "category": categories or [None] * len(ids),
        }
    )


def test_pairs_are_matched_by_id_across_reordered_and_partly_different_sets():
    ids = [f"p{i}" for i in range(40)]
    a = scores(ids, [i % 2 == 0 for i in range(40)])
    # B: reversed, the first 5 pairs gone, 3 new ones; p1 and p3 (lost by A) now won.
    kept = ids[5:][::-1]
    b_won = [int(i[1:]) % 2 == 0 or i in ("p7", "p9") for i in kept]
    b = scores([*kept, "n1", "n2", "n3"], [*b_won, True, True, True])
    matched = match_pairs(a, b)
    assert len(matched) == 35
    assert set(matched["id"]) == set(ids[5:])
    block = compare_sets(a, b, resamples=500, seed=0)
    assert block["pairs"] == 35
    assert block["only_in_a"] == 5
    assert block["only_in_b"] == 3
    assert block["discordant"] == {"a_only": 0, "b_only": 2}


def test_categories_get_holm_corrected_p_values():
    n = 60
    ids = [f"p{i}" for i in range(n)]
    categories = ["x" if i < 30 else "y" for i in range(n)]
    a = scores(ids, [False] * n, categories)
    # A wins nothing; B wins 9 pairs of x and 1 of y: discordant (0, 9) in x, (0, 1) in y.
    b = scores(ids, [i < 9 or i == 30 for i in range(n)], categories)
    block = compare_sets(a, b, resamples=500, seed=0)
    x, y = block["by_category"]["x"], block["by_category"]["y"]
    assert x["p_value_unadjusted"] == pytest.approx(2 / 2**9, abs=1e-6)
    assert y["p_value_unadjusted"] == 1.0
    assert x["p_value"] == pytest.approx(2 * 2 / 2**9, abs=1e-6)  # the smaller of 2, times 2
    assert y["p_value"] == 1.0
    assert "B is better" in x["verdict"]
    assert block["discordant"] == {"a_only": 0, "b_only": 10}
    assert block["p_value"] == pytest.approx(2 / 2**10, abs=1e-6)


def test_identical_runs_differ_by_nothing():
    ids = [f"p{i}" for i in range(50)]
    a = scores(ids, [i % 3 > 0 for i in range(50)], ["x"] * 25 + ["y"] * 25)
    result = compare_runs({"test": a, "extra": a}, {"extra": a.iloc[::-1], "test": a})
    assert list(result["sets"]) == ["test", "extra"]  # the headline split first
    for block in result["sets"].values():
        assert block["difference"] == 0.0
        assert block["p_value"] == 1.0
        assert block["difference_ci95"] == {"low": 0.0, "high": 0.0}
        assert all(c["p_value"] == 1.0 for c in block["by_category"].values())
        assert "no detectable difference (could detect >= 0.120)" in block["verdict"]


def test_a_set_only_one_run_scored_is_not_comparable():
    a = scores([f"p{i}" for i in range(30)], [True] * 30)
    result = compare_runs({"test": a, "old": a}, {"test": a, "new": a})
    assert result["sets"]["old"]["verdict"] == "not comparable: scored by A only"
    assert result["sets"]["new"]["verdict"] == "not comparable: scored by B only"
    assert result["sets"]["new"]["pairs"] == 0


def test_the_verdict_line_says_what_was_found():
    ids = [f"p{i}" for i in range(100)]
    a = scores(ids, [i < 51 for i in range(100)])
    b = scores(ids, [i < 50 or 51 <= i < 59 for i in range(100)])  # table(50, 1, 8, 41)
    block = compare_sets(a, b, resamples=2000, seed=0)
    ci = block["difference_ci95"]
    assert block["verdict"] == (
        f"B - A = +0.070 (95% CI {ci['low']:+.3f} to {ci['high']:+.3f}), p = 0.039 over 100 "
        "pairs; B is better"
    )  # 2 * (1 + 9) / 512 = 0.0390625
    worse = compare_sets(b, a, resamples=2000, seed=0)
    assert worse["verdict"].startswith("B - A = -0.070")
    assert worse["verdict"].endswith("B is worse")


# --- per-pair files ----------------------------------------------------------------------------


def test_a_pair_id_depends_on_content_only():
    messages = [{"role": "user", "content": "hi"}]
    assert pair_id("p", "a", "b") == pair_id("p", "a", "b")
    assert len(pair_id("p", "a", "b")) == 16
    assert pair_id("p", "a", "b") != pair_id("p", "b", "a")
    assert pair_id("p", "ab", "") != pair_id("p", "a", "b")
    # Message keys in any order, and the None fields Arrow adds, do not change the id.
    assert pair_id(messages, "a", "b") == pair_id([{"content": "hi", "role": "user"}], "a", "b")
    assert pair_id(messages, "a", "b") == pair_id(
        [{"role": "user", "content": "hi", "name": None}], "a", "b"
    )
    expected = json.dumps([messages, "a", "b"], sort_keys=True, ensure_ascii=False)
    assert pair_id(messages, "a", "b") == hashlib.sha256(expected.encode()).hexdigest()[:16]


def test_per_pair_files_round_trip(tmp_path):
    pairs = Dataset.from_dict(
        {
            "prompt": ["p0", "p1", "p2"],
            "chosen": ["c0", "c1", "c2"],
            "rejected": ["r0", "r1", "r2"],
        }
    )
    frame = pd.DataFrame(
        {
            "chosen_reward": [0.123456789, 1.0, -2.0],
            "rejected_reward": [0.0, 1.0, -3.0],
            "category": ["x", None, "y"],
        }
    )
    # A frame that left out its middle pair keeps the right ids (matched by index, not position).
    records = list(pair_records(pairs, frame.drop(index=1)))
    assert [r["id"] for r in records] == [pair_id("p0", "c0", "r0"), pair_id("p2", "c2", "r2")]
    write_pair_scores(tmp_path, {"test": pairs, "other": pairs}, {"test": frame, "other": frame})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.jsonl", "test.jsonl"]
    lines = (tmp_path / "test.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {
        "id": pair_id("p0", "c0", "r0"),
        "chosen_reward": 0.123457,
        "rejected_reward": 0.0,
        "category": "x",
    }
    assert "category" not in json.loads(lines[1])  # a pair without a category has none
    assert list(json.loads(lines[2])) == sorted(json.loads(lines[2]))  # sorted keys
    read = read_pair_scores([*lines, lines[0], ""])  # a repeated pair is kept once
    assert len(read) == 3
    assert read["category"].isna().tolist() == [False, True, False]
