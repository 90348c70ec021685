import numpy as np
import pytest

from rewardlab.evaluation.stats import (
    bootstrap_ci,
    bucket_order,
    calibration,
    length_buckets,
    random_win_rate,
    token_buckets,
    win_rate,
)


def test_ties_count_as_losses():
    assert win_rate(np.array([1.0, 2.0, 3.0, 0.0]), np.array([0.0, 2.0, 4.0, -1.0])) == 0.5


def outcomes(pairs: int, rate: float) -> np.ndarray:
    return np.arange(pairs) < round(rate * pairs)


def test_the_bootstrap_interval_brackets_the_rate_and_narrows_with_more_pairs():
    small = bootstrap_ci(outcomes(100, 0.7), resamples=5000, seed=0)
    large = bootstrap_ci(outcomes(10_000, 0.7), resamples=5000, seed=0)
    assert small[0] < 0.7 < small[1]
    assert large[0] < 0.7 < large[1]
    # The binomial standard error is sqrt(0.7 * 0.3 / n): 0.046 for 100 pairs, 0.0046 for 10k.
    assert small[1] - small[0] == pytest.approx(4 * 0.0458, rel=0.1)
    assert large[1] - large[0] == pytest.approx(4 * 0.00458, rel=0.1)


def test_the_bootstrap_interval_is_seeded():
    won = outcomes(50, 0.6)
    assert bootstrap_ci(won, 1000, seed=3) == bootstrap_ci(won, 1000, seed=3)
    assert bootstrap_ci(won, 1000, seed=3) != bootstrap_ci(won, 1000, seed=4)


def test_a_unanimous_rate_has_no_spread_to_resample():
    assert bootstrap_ci(outcomes(20, 1.0), 1000, seed=0) == (1.0, 1.0)


def test_random_rewards_win_about_half_the_pairs():
    assert random_win_rate(10_000, seed=0) == pytest.approx(0.5, abs=0.02)
    assert random_win_rate(10_000, seed=0) == random_win_rate(10_000, seed=0)


def test_length_buckets_compare_chosen_with_rejected_relative_to_the_longer_side():
    buckets = length_buckets(
        chosen_chars=np.array([50, 100, 95, 110, 112]),
        rejected_chars=np.array([100, 50, 100, 100, 100]),
        tolerance=0.1,
    )
    # 95 vs 100 differ by 5%, 110 vs 100 by 10/110 = 9%, 112 vs 100 by 12/112 = 11%.
    assert list(buckets) == [
        "chosen_shorter",
        "chosen_longer",
        "similar",
        "similar",
        "chosen_longer",
    ]


def test_token_buckets_are_named_by_power_of_two_ranges():
    assert list(token_buckets(np.array([1, 32, 33, 128, 129, 5000]))) == [
        "1-32",
        "1-32",
        "33-64",
        "65-128",
        "129-256",
        "4097+",
    ]


def test_buckets_are_read_in_size_order_not_text_order():
    assert bucket_order(["129-256", "1-32", "33-64", "4097+"]) == [
        "1-32",
        "33-64",
        "129-256",
        "4097+",
    ]
    assert bucket_order({"similar": 1, "chosen_longer": 1, "chosen_shorter": 1}) == [
        "chosen_shorter",
        "similar",
        "chosen_longer",
    ]


def test_a_calibrated_model_has_a_small_expected_calibration_error():
    # 80% of pairs won, each with margin log(4): sigmoid = 0.8, i.e. confidence matches accuracy.
    margins = np.where(outcomes(1000, 0.8), np.log(4), -np.log(4))
    table, ece = calibration(margins, bins=5)
    assert ece == pytest.approx(0.0, abs=1e-9)
    row = table[table["pairs"] > 0].iloc[0]
    assert (row["low"], row["high"], row["pairs"]) == pytest.approx((0.7, 0.8, 1000))
    assert (row["predicted"], row["observed"]) == pytest.approx((0.8, 0.8))


def test_an_overconfident_model_shows_the_gap_per_bin():
    # Half the pairs won, all with confidence sigmoid(5) = 0.993: a gap of 0.493.
    margins = np.where(outcomes(100, 0.5), 5.0, -5.0)
    table, ece = calibration(margins, bins=10)
    assert ece == pytest.approx(1 / (1 + np.exp(-5)) - 0.5)
    assert table["pairs"].tolist() == [0] * 9 + [100]
    assert table["observed"].iloc[-1] == 0.5
    assert np.isnan(table["predicted"].iloc[0])  # empty bins say so instead of inventing 0


def test_calibration_counts_a_tie_as_a_wrong_call_at_confidence_one_half():
    table, ece = calibration(np.array([0.0, 0.0]), bins=5)
    assert table["pairs"].iloc[0] == 2
    assert (table["predicted"].iloc[0], table["observed"].iloc[0]) == (0.5, 0.0)
    assert ece == 0.5
