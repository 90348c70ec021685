"""The tutorial's architecture, end to end on a tiny random GPT-2: pad = eos, c_attn/c_proj LoRA."""

import json

import numpy as np
from datasets import load_from_disk

from conftest import toy_pairs, write_jsonl, write_params
from rewardlab.modeling import load_reward_model
from rewardlab.scoring import score_token_ids
from rewardlab.stages import evaluate, featurize, prepare, train


def test_tiny_gpt2_trains_saves_and_reloads_with_the_same_scores(tiny_gpt2, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(40))
    write_params(
        tmp_path,
        {
            "data": {"source": str(source)},
            "model": {"name_or_path": str(tiny_gpt2)},
            "featurize": {"max_length": 64},
            "train": {
                "max_steps": 4,
                "per_device_train_batch_size": 4,
                "logging_steps": 2,
                "eval_steps": 2,
            },
            "evaluate": {"batch_size": 3},
        },
    )
    for stage in (prepare, featurize, train, evaluate):
        stage.main(["--params", "params.yaml"])

    adapter = json.loads((tmp_path / "models/reward_model/adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"attn.c_attn", "attn.c_proj"}
    assert "score" in adapter["modules_to_save"]
    metadata = json.loads((tmp_path / "models/reward_model/rewardlab.json").read_text())
    assert metadata["template"] == "\n\nHuman: {prompt}\n\nAssistant: {response}"

    metrics = json.loads((tmp_path / "reports/metrics.json").read_text())
    assert metrics["pairs"] == 8
    assert 0.0 <= metrics["win_rate"] <= 1.0
    eval_loss = (tmp_path / "reports/train/plots/metrics/eval/loss.tsv").read_text().splitlines()
    assert eval_loss[0].split("\t") == ["step", "loss"]
    assert [row.split("\t")[0] for row in eval_loss[1:]] == ["2", "4"]

    # A fresh load of the saved folder reproduces evaluate's per-pair rewards.
    model, tokenizer, _ = load_reward_model(tmp_path / "models/reward_model")
    assert tokenizer.pad_token == tokenizer.eos_token
    rows = [
        json.loads(line) for line in (tmp_path / "reports/scores.jsonl").read_text().splitlines()
    ]
    test_texts = load_from_disk(str(tmp_path / "data/features"))["test"]["chosen_text"]
    again = score_token_ids(
        model, [tokenizer(t)["input_ids"] for t in test_texts], tokenizer.pad_token_id
    )
    assert np.allclose(again, [row["chosen_reward"] for row in rows], atol=1e-5)
