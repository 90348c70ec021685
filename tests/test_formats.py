"""Every layout TRL's RewardTrainer reads: normalised in prepare, rendered in featurize, exactly."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset
from transformers import AutoTokenizer

from conftest import CHATML, toy_pairs
from hub_fixtures import (
    hh_rlhf_row,
    ultrafeedback_row,
    write_hh_rlhf,
    write_reward_bench,
    write_ultrafeedback,
)
from rewardlab.core.errors import UserError
from rewardlab.core.params import Columns, DataParams, FeaturizeParams, PrepareParams
from rewardlab.data.cleaning import choose_format, clean_pairs
from rewardlab.data.formats import Format, detect_format, normalise
from rewardlab.data.preparation import prepare_splits
from rewardlab.data.rendering import rendering_spec
from rewardlab.data.sources.loading import load_pairs
from rewardlab.data.tokenizing import render_split, tokenize_split
from rewardlab.model.scoring import encode_responses

TEMPLATE = FeaturizeParams().template
USER, ASSISTANT = "user", "assistant"


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def test_hh_rlhf_prompt_is_extracted_up_to_the_last_assistant_label():
    # Both answers start with " I", so TRL's character prefix alone would end in "Assistant: I".
    row = hh_rlhf_row(0)
    assert detect_format(row) == Format("standard", "implicit")
    pair = normalise(row, Format("standard", "implicit"))
    assert pair == {
        "prompt": "\n\nHuman: What should I know about rain? (question 0)\n\nAssistant:",
        "chosen": " I can help: rain is studied by experts.",
        "rejected": " I refuse to answer that.",
    }
    # A line break with a label inside the shared start of the answers is not a turn.
    listed = {
        side: "\n\nHuman: Steps?\n\nAssistant: Sure.\nStep 1: " + end
        for side, end in (("chosen", "mix."), ("rejected", "stop."))
    }
    assert normalise(listed, Format("standard", "implicit"))["prompt"] == (
        "\n\nHuman: Steps?\n\nAssistant:"
    )
    two_turns = normalise(hh_rlhf_row(2), Format("standard", "implicit"))
    assert two_turns["prompt"] == (
        "\n\nHuman: Tell me about bread.\n\nAssistant: Gladly, bread is a big subject."
        "\n\nHuman: Give me one fact (question 2).\n\nAssistant:"
    )


def test_ultrafeedback_conversations_lose_the_repeated_user_turn_and_carry_a_margin():
    row = {**ultrafeedback_row(1), "margin": None}
    fmt = detect_format(row)
    assert fmt == Format("conversational", "implicit")
    data = DataParams(
        columns=Columns(score_chosen="score_chosen", score_rejected="score_rejected"),
        margin_scale=0.5,
    )
    (pair,) = clean_pairs([row], fmt, data).pairs
    assert pair == {
        "prompt": [msg(USER, "Explain stars briefly (question 1).")],
        "chosen": [msg(ASSISTANT, "Here is a fact about stars: it is studied by experts.")],
        "rejected": [msg(ASSISTANT, "I refuse to answer that.")],
        "margin": (8.5 - 4.0) * 0.5,
    }


def test_explicit_conversations_and_multi_turn_answers_keep_every_turn():
    prompt = [msg("system", "Be brief."), msg(USER, "Hi?")]
    chosen = [msg(ASSISTANT, "Hello."), msg(USER, "And?"), msg(ASSISTANT, "Bye.")]
    row = {"prompt": prompt, "chosen": chosen, "rejected": [msg(ASSISTANT, "No.")]}
    assert detect_format(row) == Format("conversational", "explicit")
    assert normalise(row, Format("conversational", "explicit")) == row
    # A text prompt beside answer-only messages is the user's turn.
    text_prompt = {**row, "prompt": "Hi?"}
    assert detect_format(text_prompt) == Format("conversational", "explicit")
    assert normalise(text_prompt, Format("conversational", "explicit"))["prompt"] == [
        msg(USER, "Hi?")
    ]


@pytest.mark.parametrize(
    ("row", "fmt", "reason", "column"),
    [
        (
            {"prompt": "p", "chosen": [msg(ASSISTANT, "a")], "rejected": "r"},
            Format("standard", "explicit"),
            "mixed_format",
            "chosen",
        ),
        (
            {"prompt": [msg(USER, "p")], "chosen": [{"role": ASSISTANT}], "rejected": []},
            Format("conversational", "explicit"),
            "bad_message",
            "chosen",
        ),
        (
            {"prompt": [msg(USER, "p")], "chosen": [msg("robot", "a")], "rejected": []},
            Format("conversational", "explicit"),
            "bad_message",
            "chosen",
        ),
        (
            {"prompt": [msg(USER, "p")], "chosen": [msg(USER, "a")], "rejected": [msg(USER, "b")]},
            Format("conversational", "explicit"),
            "no_assistant_turn",
            "chosen",
        ),
        (
            {"chosen": "Sure thing.", "rejected": "No way."},
            Format("standard", "implicit"),
            "no_common_prefix",
            "chosen",
        ),
        (
            {"chosen": [msg(USER, "a"), msg(ASSISTANT, "b")], "rejected": [msg(USER, "c")]},
            Format("conversational", "implicit"),
            "no_common_prefix",
            "chosen",
        ),
    ],
)
def test_a_bad_row_is_dropped_with_its_reason_and_column(row, fmt, reason, column):
    dropped = normalise(row, fmt)
    assert (dropped.reason, dropped.column) == (reason, column)


def test_bad_margins_and_mixed_rows_are_counted_in_stats():
    rows = [{**pair, "margin": 1.5} for pair in toy_pairs(12)]
    rows[3]["margin"] = "high"
    rows[4]["margin"] = float("nan")
    rows[5]["chosen"] = [msg(ASSISTANT, "a")]
    data = DataParams(columns=Columns(margin="margin"))
    fmt = choose_format(rows, "auto")
    cleaned = clean_pairs(rows, fmt, data)
    counts = {reason: n for reason, n in cleaned.stats()["dropped"].items() if n}
    assert counts == {"bad_margin": 2, "mixed_format": 1}
    assert cleaned.first_dropped["bad_margin"] == (3, "margin")
    assert [pair["margin"] for pair in cleaned.pairs] == [1.5] * 9


def test_a_wholly_wrong_set_is_one_message_naming_column_row_and_fix():
    rows = [{**pair, "score": "n/a", "other": 1.0} for pair in toy_pairs(6)]
    data = DataParams(columns=Columns(score_chosen="score", score_rejected="other"))
    with pytest.raises(UserError) as err:
        prepare_splits(Dataset.from_list(rows), PrepareParams(), data)
    message = str(err.value)
    assert "'bad_margin' (6), first at row 0 in column 'score'" in message
    assert "map a numeric column" in message
    conversations = [ultrafeedback_row(i) for i in range(4)]
    with pytest.raises(UserError, match=r"column 'chosen'.*holds no standard.*data.format: auto"):
        choose_format(conversations, "standard")


def test_the_sets_own_test_split_becomes_test_cleaned_the_same_way(tmp_path):
    folder = write_hh_rlhf(tmp_path / "hh-rlhf", train=20, test=6)
    data = DataParams(source=str(folder), test_split="test")
    test_rows = load_pairs(data, "test").to_list()
    test_rows.append(test_rows[0])  # a duplicate, dropped in test as it would be in train
    splits, stats = prepare_splits(
        load_pairs(data), PrepareParams(), data, Dataset.from_list(test_rows)
    )
    assert (stats["train_pairs"], stats["test_pairs"]) == (20, 6)
    assert stats["test_split"] == {"from": "data.test_split", "split": "test", "shared_prompts": 0}
    assert stats["test_rows"]["dropped"]["duplicate"] == 1
    assert stats["format"] == {"type": "standard", "prompt": "implicit"}
    assert splits["test"][0]["prompt"].endswith("(question 20).\n\nAssistant:")


def test_reward_bench_subsets_travel_as_categories(tmp_path):
    data = DataParams(
        source=str(write_reward_bench(tmp_path / "rb", filtered=8)),
        split="filtered",
        columns=Columns(category="subset"),
    )
    splits, stats = prepare_splits(load_pairs(data), PrepareParams(test_size=0.25), data)
    every = splits["train"] + splits["test"]
    assert sorted({pair["category"] for pair in every}) == [
        "alpacaeval-easy",
        "math-prm",
        "mt-bench-hard",
        "refusals-dangerous",
    ]
    assert stats["category"] == {"from": "subset", "pairs": 8}
    assert stats["margin"] is None


def conversation_split(tmp_path) -> Dataset:
    folder = write_ultrafeedback(tmp_path / "uf", train=4, test=2)
    data = DataParams(source=str(folder), split="train_prefs")
    rows = load_pairs(data).to_list()
    return Dataset.from_list(clean_pairs(rows, choose_format(rows, "auto"), data).pairs)


def test_a_conversation_renders_with_the_role_template_when_the_tokenizer_has_none(
    tmp_path, tiny_gpt2
):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    spec = rendering_spec({"type": "conversational", "prompt": "implicit"}, tokenizer, True)
    assert spec["chat_template"] is None
    row = render_split(conversation_split(tmp_path), TEMPLATE, spec, tokenizer)[0]
    assert row["chosen_text"] == (
        "\n\nHuman: Explain rain briefly (question 0)."
        "\n\nAssistant: Here is a fact about rain: it is studied by experts."
    )
    assert row["add_special_tokens"] is True


def test_a_conversation_renders_with_the_tokenizers_chat_template_and_scores_alike(
    tmp_path, tiny_gpt2_chat
):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_chat)
    spec = rendering_spec({"type": "conversational", "prompt": "implicit"}, tokenizer, True)
    assert spec["chat_template"] == CHATML
    split = conversation_split(tmp_path)
    rendered = render_split(split, TEMPLATE, spec, tokenizer)
    assert rendered[0]["rejected_text"] == (
        "<|im_start|>user\nExplain rain briefly (question 0).<|im_end|>\n"
        "<|im_start|>assistant\nI refuse to answer that.<|im_end|>\n"
    )
    features, _ = tokenize_split(rendered, tokenizer, FeaturizeParams(max_length=512))
    metadata = {"template": TEMPLATE, "rendering": spec, "max_length": 512}
    # Scoring the same conversation later, or its prompt and answer as texts, gives these ids.
    assert encode_responses(tokenizer, metadata, split["prompt"], split["chosen"]) == list(
        features["chosen_ids"]
    )
    pairs = zip(split["prompt"], split["chosen"], strict=True)
    texts = [(prompt[0]["content"], chosen[0]["content"]) for prompt, chosen in pairs]
    assert encode_responses(tokenizer, metadata, *zip(*texts, strict=True)) == list(
        features["chosen_ids"]
    )
    # use_chat_template: false renders with the role template instead.
    assert (
        rendering_spec(dict(spec, type="conversational"), tokenizer, False)["chat_template"] is None
    )


def test_hh_rlhf_texts_are_rendered_as_they_are(tmp_path, tiny_gpt2_chat):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_chat)
    spec = rendering_spec({"type": "standard", "prompt": "implicit"}, tokenizer, True)
    assert spec["chat_template"] is None  # texts carry their own layout
    pair = normalise(hh_rlhf_row(0), Format("standard", "implicit"))
    row = render_split(Dataset.from_list([pair]), TEMPLATE, spec, tokenizer)[0]
    assert row["chosen_text"] == hh_rlhf_row(0)["chosen"]


def test_the_margin_reaches_the_loss_as_trl_writes_it(tiny_gpt2, tmp_path):
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from rewardlab.model.training import train_columns

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.pad_token = tokenizer.eos_token
    rows = [
        {"chosen_ids": [5, 6, 7], "rejected_ids": [8, 9], "length": 3, "margin": 2.0},
        {"chosen_ids": [10, 11], "rejected_ids": [12, 13, 14], "length": 3, "margin": -1.0},
    ]
    features = Dataset.from_list([{**row, "extra": "x"} for row in rows])
    features = features.select_columns(train_columns(features.column_names))
    assert "margin" in features.column_names
    model = AutoModelForSequenceClassification.from_pretrained(tiny_gpt2, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    trainer = RewardTrainer(
        model=model,
        args=RewardConfig(
            output_dir=str(tmp_path),
            report_to=[],
            use_cpu=True,
            activation_checkpointing=False,  # TRL passes its True default under the old name
        ),
        train_dataset=features,
        processing_class=tokenizer,
    )
    model.eval()
    batch = trainer.data_collator(list(features))
    with torch.no_grad():
        with_margin = trainer.compute_loss(model, dict(batch)).item()
        without = trainer.compute_loss(
            model, {k: v for k, v in batch.items() if k != "margin"}
        ).item()
        rewards = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits.squeeze(-1)
    chosen, rejected = rewards[:2], rewards[2:]
    margins = torch.tensor([2.0, -1.0])
    expected = -torch.nn.functional.logsigmoid(chosen - rejected - margins).mean().item()
    assert with_margin == pytest.approx(expected, rel=1e-5)
    assert without == pytest.approx(
        -torch.nn.functional.logsigmoid(chosen - rejected).mean().item(), rel=1e-5
    )
    assert with_margin != pytest.approx(without, rel=1e-3)


def test_stats_name_the_format(tmp_path):
    _, stats = prepare_splits(Dataset.from_list(toy_pairs(10)), PrepareParams())
    assert stats["format"] == {"type": "standard", "prompt": "explicit"}
    assert stats["test_split"]["from"] == "prepare.test_size"
    assert json.loads(json.dumps(stats)) == stats
