import json

import numpy as np
import pandas as pd
import pytest

from rewardlab.core.params import EvaluateParams, ModelParams
from rewardlab.evaluation.summary import summarize
from rewardlab.model.loading import load_base_model, load_tokenizer
from rewardlab.model.scoring import score_token_ids
from tiny_run import finished_run


def constructed_pairs() -> pd.DataFrame:
    """Four pairs: the trained model wins 3 (one tie lost), the untrained one 1, length 2."""
    return pd.DataFrame(
        {
            "chosen_reward": [2.0, 1.0, 0.5, 0.0],
            "rejected_reward": [0.0, 0.0, 0.5, -3.0],
            "untrained_chosen_reward": [0.1, 0.0, 0.0, 0.0],
            "untrained_rejected_reward": [0.0, 0.2, 0.2, 0.2],
            "chosen_chars": [50, 100, 100, 200],
            "rejected_chars": [100, 100, 101, 100],
            "chosen_tokens": [10, 20, 20, 40],
            "rejected_tokens": [20, 20, 21, 20],
        }
    )


def test_summarize_scores_the_model_and_every_baseline_on_the_same_pairs():
    metrics = summarize(constructed_pairs(), EvaluateParams(calibration_bins=5))
    assert metrics["pairs"] == 4
    assert metrics["win_rate"] == 0.75
    assert metrics["untrained_win_rate"] == 0.25
    assert metrics["longer_wins_rate"] == 0.25
    assert metrics["mean_margin"] == 1.5
    assert 0.0 <= metrics["random_win_rate"] <= 1.0
    assert metrics["win_rate_ci95"]["low"] <= 0.75 <= metrics["win_rate_ci95"]["high"]

    by_length = metrics["by_length_diff"]
    assert list(by_length) == ["chosen_shorter", "similar", "chosen_longer"]
    assert [by_length[name]["pairs"] for name in by_length] == [1, 2, 1]
    assert by_length["similar"]["win_rate"] == 0.5  # the tie at 0.5 vs 0.5 is a loss
    assert by_length["similar"]["longer_wins_rate"] == 0.0
    assert {name: b["pairs"] for name, b in metrics["by_tokens"].items()} == {"1-32": 3, "33-64": 1}

    bins = metrics["calibration"]["bins"]
    assert list(bins) == ["0.50-0.60", "0.60-0.70", "0.70-0.80", "0.80-0.90", "0.90-1.00"]
    assert sum(b["pairs"] for b in bins.values()) == 4
    assert bins["0.50-0.60"] == {"pairs": 1, "predicted": 0.5, "observed": 0.0}


def test_summarize_is_deterministic_and_json_ready():
    params = EvaluateParams()
    first = json.dumps(summarize(constructed_pairs(), params), sort_keys=True)
    assert first == json.dumps(summarize(constructed_pairs(), params), sort_keys=True)
    assert "NaN" not in first  # empty calibration bins are null, which JSON readers accept


def test_the_evaluate_stage_writes_metrics_and_both_models_rewards_per_pair(tiny_run):
    run = tiny_run
    metrics = json.loads((run / "reports/metrics.json").read_text())
    scores = pd.read_json(run / "reports/scores.jsonl", lines=True)
    assert metrics["pairs"] == len(scores) == 12
    assert sum(b["pairs"] for b in metrics["by_length_diff"].values()) == 12
    assert sum(b["pairs"] for b in metrics["by_tokens"].values()) == 12
    assert sum(b["pairs"] for b in metrics["calibration"]["bins"].values()) == 12
    won = scores["chosen_reward"] > scores["rejected_reward"]
    assert metrics["win_rate"] == pytest.approx(
        won.mean(), abs=1e-6
    )  # metrics are rounded to 6 places
    untrained_won = scores["untrained_chosen_reward"] > scores["untrained_rejected_reward"]
    assert metrics["untrained_win_rate"] == pytest.approx(untrained_won.mean(), abs=1e-6)
    # Training moved the rewards: the untrained column is a different model, not a copy.
    assert not np.allclose(scores["chosen_reward"], scores["untrained_chosen_reward"])


@pytest.mark.parametrize("model_name", ["builtin:minilm", "tiny_gpt2"])
def test_scores_do_not_depend_on_batching_or_order(model_name, request):
    if model_name == "tiny_gpt2":
        model_name = str(request.getfixturevalue("tiny_gpt2"))
    params = ModelParams(name_or_path=model_name)
    tokenizer = load_tokenizer(params)
    model, _ = load_base_model(params, tokenizer)
    model.eval()
    texts = ["short", "a somewhat longer text about rain", "mid length text", "x " * 30]
    ids = [tokenizer(t)["input_ids"] for t in texts]
    one_by_one = score_token_ids(model, ids, tokenizer.pad_token_id, batch_size=1)
    batched = score_token_ids(model, ids, tokenizer.pad_token_id, batch_size=4)
    assert np.allclose(one_by_one, batched, atol=1e-5)
    reversed_scores = score_token_ids(model, ids[::-1], tokenizer.pad_token_id, batch_size=3)
    assert np.allclose(one_by_one, reversed_scores[::-1], atol=1e-5)


def test_the_untrained_baseline_is_the_model_training_started_from(tiny_gpt2, tmp_path_factory):
    # With a vanishing learning rate the trained model *is* its starting point, so the untrained
    # baseline (rebuilt from the metadata's seed) must give the same rewards.
    run = finished_run(tmp_path_factory, tiny_gpt2, train={"learning_rate": 1e-12})
    scores = pd.read_json(run / "reports/scores.jsonl", lines=True)
    for side in ("chosen", "rejected"):
        assert np.allclose(scores[f"{side}_reward"], scores[f"untrained_{side}_reward"], atol=1e-5)
