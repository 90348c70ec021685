"""Rated completions through the whole pipeline: UltraFeedback's raw layout in a folder laid out
as the Hub serves it (parquet, completions a list of structs), pairs made by prepare
(``data.pairs_from``) with their score differences as margins, featurized, trained on the tiny
GPT-2 (margins in TRL's loss) and evaluated on a test split that shares no prompt with training.

In-process, by the entry points ``dvc repro`` calls, as test_layouts.py runs the Hub layouts;
test_pipeline.py covers the DVC wiring (and test_architecture.py that prepare's deps name
``data/ratings.py``).
"""

from __future__ import annotations

import contextlib
import json

from datasets import load_from_disk

from conftest import write_params
from ratings_fixtures import ULTRAFEEDBACK, write_ultrafeedback_raw
from rewardlab.data.splitting import prompt_key
from rewardlab.stages import evaluate, featurize, prepare, train

TINY = {
    "featurize": {"max_length": 48},
    "train": {"max_steps": 2, "per_device_train_batch_size": 4, "eval_steps": 2, "eval_pairs": 4},
    "evaluate": {"batch_size": 8, "bootstrap_resamples": 200},
}


def test_ultrafeedback_raw_ratings_train_and_evaluate(tmp_path, tiny_gpt2):
    source = write_ultrafeedback_raw(tmp_path / "UltraFeedback", rows=30)
    repo = tmp_path / "repo"
    repo.mkdir()
    overrides = {
        **TINY,
        "data": {"source": str(source), **ULTRAFEEDBACK},
        "model": {"name_or_path": str(tiny_gpt2)},
        "prepare": {"test_size": 0.2},
    }
    write_params(repo, overrides)
    with contextlib.chdir(repo):
        for stage in (prepare, featurize, train, evaluate):
            stage.main(["--params", "params.yaml"])

    stats = json.loads((repo / "data/prepared/stats.json").read_text())
    # 20 of 30 rows rated [6.5, 9, 6.5, 3] give 3 pairs each; 10 rated all 5 give none.
    assert stats["ratings"]["pairs_per_prompt"] == {"0": 10, "3": 20}
    assert stats["dropped"]["tie"] == 30
    assert stats["split_by"] == "random"
    assert stats["train_pairs"] + stats["test_pairs"] == 60
    assert stats["train_pairs"] % 3 == 0  # a prompt's three pairs stay together
    prepared = {
        name: [json.loads(line) for line in (repo / f"data/prepared/{name}.jsonl").open()]
        for name in ("train", "test")
    }
    train_prompts = {prompt_key(p["prompt"]) for p in prepared["train"]}
    assert not train_prompts & {prompt_key(p["prompt"]) for p in prepared["test"]}

    features = load_from_disk(str(repo / "data/features"))
    assert sorted(set(features["train"]["margin"])) == [2.5, 6.0]
    assert (
        json.loads((repo / "data/features/stats.json").read_text())["train"]["pairs_with_margin"]
        == stats["train_pairs"]
    )
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["pairs"] == stats["test_pairs"]
    assert 0 <= metrics["win_rate"] <= 1
