"""The tutorial's study as a preset, run through the real `dvc exp run` on Hub-shaped fixtures."""

import json
import sys

import pandas as pd
import pytest
import yaml

from conftest import toy_pairs
from dvc_repo import dvc, make_repo, run
from rewardlab.core.errors import UserError
from rewardlab.tools.presets import PRESETS_DIR, exp_command, load_preset, set_flags


def test_flags_survive_dvcs_own_override_parser(tmp_path):
    from dvc.utils.hydra import apply_overrides

    wanted = {
        "lora": {"target_modules": ["attn.c_attn", "attn.c_proj"], "r": 8},
        "featurize": {"template": "\n\nHuman: {prompt}\n\nAssistant: {response}"},
        "train": {
            "learning_rate": 1.41e-5,
            "group_by_length": False,
            "mixed_precision": "fp32",
            "center_rewards_coefficient": None,
        },
    }
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({s: {k: "placeholder" for k in v} for s, v in wanted.items()}))
    flags = set_flags(wanted)
    assert flags[::2] == ["-S"] * (len(flags) // 2)
    apply_overrides(params, flags[1::2])
    assert yaml.safe_load(params.read_text()) == wanted


def test_the_tutorial_preset_sets_the_tutorials_values():
    preset = load_preset("tutorial")
    assert preset["model"]["name_or_path"] == "gpt2"
    assert preset["data"]["source"] == "Dahoas/synthetic-instruct-gptj-pairwise"
    assert preset["featurize"]["max_length"] == 1024
    assert preset["lora"] == {
        "r": 8,
        "alpha": 32,
        "dropout": 0.1,
        "target_modules": ["attn.c_attn", "attn.c_proj"],
    }
    train = preset["train"]
    assert (train["per_device_train_batch_size"], train["gradient_accumulation_steps"]) == (3, 8)
    assert (train["num_train_epochs"], train["learning_rate"]) == (3, 1.41e-5)
    assert (train["logging_steps"], train["eval_steps"], train["save_steps"]) == (10, 500, 500)
    assert train["save_total_limit"] == 2


def test_an_unknown_preset_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown preset 'nope'.*tutorial"):
        load_preset("nope")


def test_a_preset_with_a_typo_is_caught_before_dvc_runs(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("train:\n  learnig_rate: 1\n")
    monkeypatch.setattr("rewardlab.tools.presets.PRESETS_DIR", tmp_path)
    with pytest.raises(Exception, match="learnig_rate"):
        exp_command("bad")
    assert (PRESETS_DIR / "tutorial.yaml").exists()


@pytest.mark.e2e
def test_the_tutorial_preset_runs_as_a_labelled_dvc_experiment(tmp_path, tiny_gpt2):
    # A dataset folder in the Hub's on-disk layout with the tutorial's columns.
    hub_dataset = tmp_path / "synthetic-instruct-gptj-pairwise"
    (hub_dataset / "data").mkdir(parents=True)
    pd.DataFrame(toy_pairs(40)).to_parquet(hub_dataset / "data/train-00000-of-00001.parquet")
    repo = make_repo(tmp_path / "repo", {})
    shrink = {
        "data.source": str(hub_dataset),
        "model.name_or_path": str(tiny_gpt2),
        "train.max_steps": 2,
        "train.eval_steps": 1,
        "train.logging_steps": 1,
    }
    extra = [arg for key, value in shrink.items() for arg in ("-S", f"{key}={value}")]
    run(repo, sys.executable, "-m", "rewardlab", "exp", "tutorial", *extra)

    shown = json.loads(dvc(repo, "exp", "show", "--json").stdout)
    runs = {
        r["name"]: r["data"]
        for row in shown
        for e in row.get("experiments") or []
        for r in e["revs"]
    }
    assert "tutorial" in runs
    params = runs["tutorial"]["params"]["params.yaml"]["data"]
    for section, values in load_preset("tutorial").items():
        for key, value in values.items():
            if f"{section}.{key}" not in shrink:
                assert params[section][key] == value, (section, key)
    metrics = runs["tutorial"]["metrics"]["reports/metrics.json"]["data"]
    assert metrics["pairs"] == 8 and 0 <= metrics["win_rate"] <= 1
