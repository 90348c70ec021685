"""The reward model inside policy trainers: TRL's GRPO (path and rewardlab's reward function),
TRL's PPO reward path, the text-classification pipeline, padding, and normalised exports.

Tiny models throughout: a random BERT (special tokens and a biased head, like MiniLM) and a
random GPT-2 (a causal LM: last-token reward) trained by the real stages in ``finished_run``;
the GRPO policy is the tiny random GPT-2 itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from datasets import Dataset
from transformers import AutoTokenizer, pipeline

from rewardlab.cli import main as cli
from rewardlab.core.errors import UserError
from rewardlab.data.rendering import chat_template, render_pair
from rewardlab.model.loading import load_reward_model
from rewardlab.model.scoring import encode_responses, score_responses
from rewardlab.rlhf import RewardModelFunction
from rewardlab.tools.export import export
from tiny_run import finished_run

# Enough steps for the tiny BERT's rewards to spread out, so standardising is well conditioned.
BERT_TRAIN = {"max_steps": 12, "learning_rate": 0.01}
# Room for the multi-turn conversations in the tiny WordPiece's many short pieces: TRL's GRPO and
# a tokenizer call without truncation=True see them whole, as rewardlab must to agree.
BERT_FEATURIZE = {"max_length": 128}
CONVERSATIONS = [
    [{"role": "user", "content": "Tell me one fact about rain."}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Tell me one fact about stars."},
        {"role": "assistant", "content": "Here is a fact about stars."},
        {"role": "user", "content": "And about bread?"},
    ],
]


@pytest.fixture(scope="module")
def bert_run(tiny_bert, tmp_path_factory):
    return finished_run(tmp_path_factory, tiny_bert, BERT_TRAIN, BERT_FEATURIZE)


@pytest.fixture(scope="module")
def bert_export(bert_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("bert-export") / "rm"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(bert_run)  # export finds evaluate's reports/metrics.json there
        cli(["export", "--model", "models/reward_model", "--out", str(out)])
    return out


def adapter(run: Path) -> Path:
    return run / "models/reward_model"


def grpo_rewards(policy: Path, reward, prompts: list, tmp_path: Path, monkeypatch) -> list:
    """Train a tiny GRPO policy 2 steps; return (prompt, completion, reward) as GRPO computed."""
    from trl import GRPOConfig, GRPOTrainer

    captured = []
    original = GRPOTrainer._calculate_rewards

    def spy(self, inputs, prompts, completions, completion_ids_list):
        rewards = original(self, inputs, prompts, completions, completion_ids_list)
        captured.extend(zip(prompts, completions, rewards[:, 0].tolist(), strict=True))
        return rewards

    monkeypatch.setattr(GRPOTrainer, "_calculate_rewards", spy)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = chat_template("\n\nHuman: {prompt}\n\nAssistant: {response}")
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=6,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,  # TRL passes its True default under the old name
        seed=0,
    )
    trainer = GRPOTrainer(
        model=str(policy),
        reward_funcs=reward,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        processing_class=tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    return captured


def test_grpo_loading_the_exported_folder_rewards_conversations_as_rewardlab_does(
    bert_run, bert_export, tiny_gpt2, tmp_path, monkeypatch
):
    captured = grpo_rewards(tiny_gpt2, str(bert_export), CONVERSATIONS, tmp_path, monkeypatch)
    assert len(captured) == 2 * 4  # two steps of four completions
    prompts, completions, rewards = zip(*captured, strict=True)
    assert isinstance(completions[0], list)  # conversational: lists of messages
    model, tokenizer, metadata = load_reward_model(adapter(bert_run))
    expected = score_responses(model, tokenizer, metadata, prompts, completions)
    assert rewards == pytest.approx(expected, abs=1e-5)


def test_grpo_with_the_reward_function_on_plain_prompts_gives_rewardlab_score(
    bert_run, tiny_gpt2, tmp_path, monkeypatch
):
    prompts = ["Tell me one fact about rain.", "Tell me one fact about coffee."]
    reward = RewardModelFunction(adapter(bert_run))
    captured = grpo_rewards(tiny_gpt2, reward, prompts, tmp_path, monkeypatch)
    rows = [{"prompt": p, "response": c} for p, c, _ in captured]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    cli(
        [
            *("score", "--model", str(adapter(bert_run))),
            *("--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl")),
        ]
    )
    scored = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert [r for _, _, r in captured] == pytest.approx(scored["reward"].tolist(), abs=1e-5)


def test_the_export_carries_the_tokenization_contract(bert_run, bert_export):
    tokenizer = AutoTokenizer.from_pretrained(bert_export)
    metadata = json.loads((bert_export / "rewardlab.json").read_text())
    assert tokenizer.model_max_length == metadata["max_length"] == 128
    config = json.loads((bert_export / "tokenizer_config.json").read_text())
    assert config["padding_side"] == "right"
    answer = [{"role": "assistant", "content": "Here is a fact about rain."}]
    for conversation in CONVERSATIONS:  # multi-turn too
        text = tokenizer.apply_chat_template(conversation + answer, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert ids == encode_responses(tokenizer, metadata, [conversation], [answer])[0]


def test_ppo_last_token_reward_of_a_causal_lm_equals_rewardlab_score(tiny_gpt2, tmp_path_factory):
    from trl.experimental.utils import get_reward

    run = finished_run(tmp_path_factory, tiny_gpt2)
    out = tmp_path_factory.mktemp("gpt2-export") / "rm"
    export(adapter(run), out, metrics_file=run / "reports/metrics.json")
    test = pd.read_json(run / "data/prepared/test.jsonl", lines=True).head(6)
    model, tokenizer, metadata = load_reward_model(out)
    pad = tokenizer.pad_token_id
    ids = encode_responses(tokenizer, metadata, list(test["prompt"]), list(test["chosen"]))
    # As PPO builds them: queries left-padded to one length, responses right-padded after them.
    queries, responses = [x[:10] for x in ids], [x[10:] for x in ids]
    width = max(map(len, responses))
    rows = [
        [pad] * (10 - len(q)) + q + r + [pad] * (width - len(r))
        for q, r in zip(queries, responses, strict=True)
    ]
    with torch.inference_mode():
        _, rewards, _ = get_reward(model, torch.tensor(rows), pad, context_length=10)
    expected = score_responses(
        model, tokenizer, metadata, list(test["prompt"]), list(test["chosen"])
    )
    assert rewards.tolist() == pytest.approx(expected, abs=1e-5)
    with pytest.raises(UserError, match="no bias"):  # GPT-2's head cannot take the mean
        export(
            adapter(run),
            tmp_path_factory.mktemp("n") / "rm",
            normalize=True,
            metrics_file=run / "reports/metrics.json",
        )


def test_the_pipeline_scores_batches_like_single_texts_and_truncates_long_ones(
    bert_run, bert_export
):
    metadata = json.loads((bert_export / "rewardlab.json").read_text())
    test = pd.read_json(bert_run / "data/prepared/test.jsonl", lines=True).head(6)
    prompts = [*test["prompt"], "Tell me one fact about rivers."]
    responses = [*test["chosen"], "rivers flow to the sea " * 200]  # far past the trained length
    texts = [
        render_pair(metadata["template"], p, r) for p, r in zip(prompts, responses, strict=True)
    ]
    scorer = pipeline("text-classification", model=str(bert_export), function_to_apply="none")
    batched = [o["score"] for o in scorer(texts, batch_size=4, truncation=True)]
    single = [scorer(text, truncation=True)[0]["score"] for text in texts]
    assert batched == pytest.approx(single, abs=1e-5)
    model, tokenizer, _ = load_reward_model(bert_run / "models/reward_model")
    assert batched == pytest.approx(
        score_responses(model, tokenizer, metadata, prompts, responses), abs=1e-5
    )


def test_the_reward_function_pads_right_whatever_the_tokenizer_says(bert_export):
    prompts = ["Tell me one fact about rain.", "Tell me one fact about ships (question 3)."]
    completions = ["Rain falls.", "Here is a fact about ships: it is studied by experts, a lot."]
    reward = RewardModelFunction(bert_export, batch_size=2)
    batched = reward(prompts, completions)
    single = [reward([p], [c])[0] for p, c in zip(prompts, completions, strict=True)]
    reward.tokenizer.padding_side = "left"  # what RewardBench's CLI forces
    assert reward(prompts, completions) == pytest.approx(batched, abs=1e-6)
    assert batched == pytest.approx(single, abs=1e-5)
    # Left padding does change a BERT's rewards (absolute positions): the card says so.
    assert "left padding shifts positions" in (bert_export / "README.md").read_text()


def test_export_normalize_standardises_training_rewards_and_keeps_their_order(
    bert_run, bert_export, tmp_path
):
    out = tmp_path / "normalized"
    export(adapter(bert_run), out, normalize=True, metrics_file=bert_run / "reports/metrics.json")
    train = pd.read_json(bert_run / "data/prepared/train.jsonl", lines=True)
    prompts, responses = list(train["prompt"]) * 2, list(train["chosen"]) + list(train["rejected"])
    raw = np.asarray(RewardModelFunction(bert_export)(prompts, responses))
    standard = np.asarray(RewardModelFunction(out)(prompts, responses))
    assert raw.std() > 1e-3  # a spread to standardise
    assert standard.mean() == pytest.approx(0, abs=1e-3)
    assert standard.std() == pytest.approx(1, abs=1e-3)
    assert (np.argsort(raw, kind="stable") == np.argsort(standard, kind="stable")).all()
    stats = json.loads((bert_run / "reports/metrics.json").read_text())["reward_stats"]
    for folder, normalized in ((bert_export, False), (out, True)):
        config = json.loads((folder / "config.json").read_text())
        assert config["reward_stats"] == stats and config["rewards_normalized"] is normalized
    # On the fly, from the unnormalised export: the same standardised rewards.
    on_the_fly = RewardModelFunction(bert_export, normalize=True)(prompts, responses)
    assert on_the_fly == pytest.approx(standard.tolist(), abs=1e-4)


def test_reward_statistics_come_from_a_seeded_sample_of_the_training_split(bert_run, monkeypatch):
    import rewardlab.model.scoring
    from rewardlab.model.normalization import train_reward_stats

    monkeypatch.chdir(bert_run)  # the stage reads data/features
    model, tokenizer, _ = load_reward_model(adapter(bert_run))
    train_pairs = len(pd.read_json("data/prepared/train.jsonl", lines=True))
    scored, real = [], rewardlab.model.scoring.score_token_ids

    def spy(model, sequences, *args, **kwargs):
        scored.append([list(s) for s in sequences])
        return real(model, sequences, *args, **kwargs)

    monkeypatch.setattr(rewardlab.model.scoring, "score_token_ids", spy)

    def stats(pairs: int, seed: int = 0) -> dict:
        return train_reward_stats(model, tokenizer.pad_token_id, 8, adapter(bert_run), pairs, seed)

    features = sorted(Path("data/features").rglob("*"))
    whole, sample = stats(10_000), stats(10)
    assert sorted(Path("data/features").rglob("*")) == features  # a DVC output: left untouched
    # evaluate's default (500 pairs) covers this tiny split whole: the same numbers.
    assert whole == json.loads(Path("reports/metrics.json").read_text())["reward_stats"]
    assert (whole["n"], whole["split_pairs"]) == (2 * train_pairs, train_pairs)
    assert (sample["n"], sample["split_pairs"]) == (20, train_pairs)
    stats(10)
    stats(10, seed=1)
    assert scored[2] == scored[1] != scored[3]  # the same pairs for a seed, others for another


def test_cards_are_filled_in_and_files_are_readable_by_all(bert_run, bert_export):
    metrics = json.loads((bert_run / "reports/metrics.json").read_text())
    mask = os.umask(0)
    os.umask(mask)
    for folder in (adapter(bert_run), bert_export):
        card = (folder / "README.md").read_text()
        front = yaml.safe_load(card.split("---\n")[1])
        assert front["pipeline_tag"] == "text-classification" and "reward-model" in front["tags"]
        assert front["library_name"] == ("transformers" if folder == bert_export else "peft")
        assert "More Information Needed" not in card and "128 tokens" in card
        for file in folder.iterdir():
            assert str(bert_run) not in file.read_text(errors="ignore"), file
            assert file.stat().st_mode & 0o777 == 0o666 & ~mask, file
    card = (bert_export / "README.md").read_text()
    ci = metrics["win_rate_ci95"]
    assert f"| {metrics['win_rate']:.3f} | {ci['low']:.3f}-{ci['high']:.3f} |" in card
    assert f"std {metrics['reward_stats']['std']:.4f}" in card


def test_statistics_of_another_model_are_never_applied(bert_run, tiny_gpt2, tmp_path_factory):
    gpt2_run = finished_run(tmp_path_factory, tiny_gpt2)
    bert_metrics = bert_run / "reports/metrics.json"
    out = tmp_path_factory.mktemp("mismatch") / "rm"
    with pytest.raises(UserError, match="another model"):
        RewardModelFunction(adapter(gpt2_run), normalize=True, metrics_file=bert_metrics)
    export(adapter(gpt2_run), out, metrics_file=bert_metrics)  # without --normalize: no stats
    assert "reward_stats" not in json.loads((out / "rewardlab.json").read_text())
    assert "Not evaluated yet" in (out / "README.md").read_text()
