"""The whole pipeline on each Hub layout (hh-rlhf, UltraFeedback, Dahoas, RewardBench), as a
user points data.source at a local copy, with a tiny model that has a chat template and one that
has none.

One short run per layout: prepare → featurize → train (2 steps) → evaluate, then `rewardlab
score` on the prepared test pairs must give evaluate's rewards digit for digit, which it can
only do when it renders every layout exactly as training did. The stages run in-process, by
the entry points `dvc repro` calls (`rewardlab <stage>`): one `dvc repro` of this config took
88 s on the busy 2-core machine, an in-process run 3 s; test_pipeline.py covers the DVC wiring.
"""

from __future__ import annotations

import contextlib
import json

import pandas as pd
import pytest

from conftest import CHATML, write_params
from hub_fixtures import LAYOUTS
from rewardlab.cli import main as cli
from rewardlab.stages import evaluate, featurize, prepare, train

# Layout → (chat-template model?, format prepare must detect, test pairs, the split's origin).
EXPECTED = {
    "hh-rlhf": (False, {"type": "standard", "prompt": "implicit"}, 12, "data.test_split"),
    "ultrafeedback": (
        True,
        {"type": "conversational", "prompt": "implicit"},
        12,
        "data.test_split",
    ),
    "dahoas": (False, {"type": "standard", "prompt": "explicit"}, 10, "prepare.test_size"),
    "reward-bench": (True, {"type": "standard", "prompt": "explicit"}, 10, "prepare.test_size"),
}
TINY = {
    "featurize": {"max_length": 64},
    "train": {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "eval_steps": 2,
        "eval_pairs": 4,
    },
    "evaluate": {"batch_size": 8, "bootstrap_resamples": 200},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_hub_layout_runs_the_pipeline_and_scores_as_trained(
    layout, tmp_path, tiny_gpt2, tiny_gpt2_chat
):
    writer, data_params = LAYOUTS[layout]
    chat, data_format, test_pairs, test_from = EXPECTED[layout]
    source = writer(tmp_path / layout)
    model = tiny_gpt2_chat if chat else tiny_gpt2
    overrides = {
        **TINY,
        "data": {"source": str(source), **data_params},
        "model": {"name_or_path": str(model)},
        "prepare": {"test_size": 0.2},
    }
    repo = tmp_path / "repo"
    repo.mkdir()
    write_params(repo, overrides)
    with contextlib.chdir(repo):
        for stage in (prepare, featurize, train, evaluate):
            stage.main(["--params", "params.yaml"])

    prepared = json.loads((repo / "data/prepared/stats.json").read_text())
    assert prepared["format"] == data_format
    assert prepared["test_split"]["from"] == test_from
    assert prepared["test_pairs"] == test_pairs
    assert prepared["source"]["source"] == str(source)
    metadata = json.loads((repo / "models/reward_model/rewardlab.json").read_text())
    conversational = data_format["type"] == "conversational"
    assert metadata["rendering"] == {
        **{"format": data_format["type"], "prompt": data_format["prompt"]},
        "chat_template": CHATML if chat and conversational else None,
    }
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["pairs"] == test_pairs
    if layout == "ultrafeedback":
        assert prepared["margin"] == {"from": "(score_chosen - score_rejected) * 1.0", "pairs": 52}
        features = json.loads((repo / "data/features/stats.json").read_text())
        assert features["train"]["pairs_with_margin"] == 40
    if layout == "reward-bench":
        assert prepared["category"] == {"from": "subset", "pairs": 48}

    scored = tmp_path / "scored.jsonl"
    code = cli_status(
        "score",
        "--model",
        str(repo / "models/reward_model"),
        "--input",
        str(repo / "data/prepared/test.jsonl"),
        "--output",
        str(scored),
        "--batch-size",
        "8",
    )
    assert code == 0
    ours, evaluated = (
        pd.read_json(scored, lines=True),
        pd.read_json(repo / "reports/scores.jsonl", lines=True),
    )
    assert ours["chosen_reward"].tolist() == evaluated["chosen_reward"].tolist()
    assert ours["rejected_reward"].tolist() == evaluated["rejected_reward"].tolist()


def cli_status(*args: str) -> int:
    try:
        cli(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
