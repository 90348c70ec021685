import numpy as np
import pytest

from rewardlab.evaluate import pair_metrics, win_rate
from rewardlab.modeling import load_base_model, load_tokenizer
from rewardlab.params import ModelParams
from rewardlab.scoring import score_token_ids


def test_ties_count_as_losses():
    assert win_rate(np.array([1.0, 2.0, 3.0, 0.0]), np.array([0.0, 2.0, 4.0, -1.0])) == 0.5


def test_pair_metrics_on_a_constructed_case():
    metrics = pair_metrics(
        np.array([2.0, 0.0]),
        np.array([1.0, 1.0]),
        chosen_chars=np.array([10, 1]),
        rejected_chars=np.array([10, 2]),
    )
    assert metrics == {"pairs": 2, "win_rate": 0.5, "mean_margin": 0.0, "longer_wins_rate": 0.0}


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
