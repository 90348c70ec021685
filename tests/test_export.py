"""The reward head survives the round trip: `rewardlab export` → plain `transformers`."""

import json

import pandas as pd
import pytest
from transformers import AutoModelForSequenceClassification, pipeline

from rewardlab.cli import main as cli
from rewardlab.core.errors import UserError
from rewardlab.tools.export import export


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    run = tiny_run
    out = tmp_path_factory.mktemp("export") / "standalone"
    cli(["export", "--model", str(run / "models/reward_model"), "--out", str(out)])
    return run, out


def test_plain_transformers_loads_the_export_with_nothing_newly_initialised(exported, capfd):
    _, out = exported
    capfd.readouterr()
    model, info = AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert info["missing_keys"] == info["unexpected_keys"] == set()
    assert not info["mismatched_keys"]
    assert "MISSING" not in capfd.readouterr().err  # transformers' newly-initialised report
    assert model.config.pad_token_id is not None  # GPT-2 batches need it


def test_the_text_classification_pipeline_gives_the_evaluate_stage_rewards(exported):
    run, out = exported
    metadata = json.loads((out / "rewardlab.json").read_text())
    test = pd.read_json(run / "data/prepared/test.jsonl", lines=True)
    texts = [
        metadata["template"].format(prompt=p, response=r)
        for p, r in zip(test["prompt"], test["chosen"], strict=True)
    ]
    scorer = pipeline("text-classification", model=str(out), function_to_apply="none")
    outputs = scorer(texts, batch_size=4, truncation=True, max_length=metadata["max_length"])
    evaluated = pd.read_json(run / "reports/scores.jsonl", lines=True)
    rewards = [output["score"] for output in outputs]
    assert rewards == pytest.approx(evaluated["chosen_reward"].tolist(), abs=1e-4)


def test_export_refuses_to_replace_a_folder_it_did_not_write(exported, tmp_path):
    run, _ = exported
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not an earlier export"):
        export(run / "models/reward_model", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
