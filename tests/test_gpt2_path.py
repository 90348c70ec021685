"""The tutorial's architecture, end to end on a tiny random GPT-2: pad = eos, c_attn/c_proj LoRA.

It reads the session's shared tiny run (tiny_run.py), which is a GPT-2 run: training it again here
would check nothing more.
"""

import json

import numpy as np
from datasets import load_from_disk

from rewardlab.model.loading import load_reward_model
from rewardlab.model.scoring import score_token_ids
from tiny_run import TINY_RUN


def test_tiny_gpt2_trains_saves_and_reloads_with_the_same_scores(tiny_run):
    run = tiny_run
    adapter = json.loads((run / "models/reward_model/adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"attn.c_attn", "attn.c_proj"}
    assert "score" in adapter["modules_to_save"]
    metadata = json.loads((run / "models/reward_model/rewardlab.json").read_text())
    assert metadata["template"] == "\n\nHuman: {prompt}\n\nAssistant: {response}"

    metrics = json.loads((run / "reports/metrics.json").read_text())
    assert metrics["pairs"] == 12
    assert 0.0 <= metrics["win_rate"] <= 1.0
    eval_loss = (run / "reports/train/plots/metrics/eval/loss.tsv").read_text().splitlines()
    assert eval_loss[0].split("\t") == ["step", "loss"]
    train = TINY_RUN["train"]
    steps = range(train["eval_steps"], train["max_steps"] + 1, train["eval_steps"])
    assert [row.split("\t")[0] for row in eval_loss[1:]] == [str(s) for s in steps]

    # A fresh load of the saved folder reproduces evaluate's per-pair rewards.
    model, tokenizer, _ = load_reward_model(run / "models/reward_model")
    assert tokenizer.pad_token == tokenizer.eos_token
    rows = [json.loads(line) for line in (run / "reports/scores.jsonl").read_text().splitlines()]
    test_texts = load_from_disk(str(run / "data/features"))["test"]["chosen_text"]
    again = score_token_ids(
        model, [tokenizer(t)["input_ids"] for t in test_texts], tokenizer.pad_token_id
    )
    assert np.allclose(again, [row["chosen_reward"] for row in rows], atol=1e-5)
