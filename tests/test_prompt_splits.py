"""Splits keep a prompt's pairs together: no held-out split (``test``, ``test_seen_topics``)
shares a prompt with training, for repeated prompts in a pairwise source, for the pairs made
from one prompt's rated completions, and for a source's own test split."""

from __future__ import annotations

import random

import pytest
from datasets import Dataset

from conftest import toy_pairs
from rewardlab.core.errors import UserError
from rewardlab.core.params import DataParams, PrepareParams
from rewardlab.data.preparation import prepare_splits
from rewardlab.data.splitting import prompt_key, split_rows

HELD_OUT = ("test", "test_seen_topics")


def repeated_prompts(n: int, seed: int = 0) -> list[dict]:
    """``n`` pairs over about n / 2.5 prompts, some repeats differing only in case and spaces."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q = rng.randrange(n * 2 // 5)
        prompt = f"Tell me about topic {q}." if rng.random() < 0.5 else f"tell  me ABOUT topic {q}."
        rows.append({"prompt": prompt, "chosen": f"Topic {q} is fine ({i}).", "rejected": "No."})
    return rows


def topic(row: dict) -> int:
    return int(row["prompt"].rstrip(".").split()[-1])


def prompts(split: list[dict]) -> set[str]:
    return {prompt_key(pair["prompt"]) for pair in split}


def assert_no_shared_prompt(splits: dict[str, list[dict]]) -> None:
    train = prompts(splits["train"])
    for name in HELD_OUT:
        if name in splits:
            assert splits[name] and not prompts(splits[name]) & train, name


def test_the_prompt_key_ignores_case_spacing_and_a_lone_user_message():
    assert prompt_key("Tell  me\nABOUT rain ") == prompt_key("tell me about rain")
    assert prompt_key([{"role": "user", "content": "Hi  there"}]) == prompt_key("hi there")
    two_turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yes?"}]
    assert prompt_key(two_turns) != prompt_key("hi")


def test_a_random_split_keeps_repeated_prompts_on_one_side():
    rows = repeated_prompts(200)
    splits, stats = prepare_splits(Dataset.from_list(rows), PrepareParams(test_size=0.25))
    assert len({prompt_key(r["prompt"]) for r in rows}) < 100  # the source does repeat prompts
    assert_no_shared_prompt(splits)
    assert stats["prompts"]["train"] + stats["prompts"]["test"] == len(prompts(rows))
    assert 0.15 < stats["test_pairs"] / 200 < 0.35


def test_unique_prompts_split_exactly_as_row_by_row():
    rows = toy_pairs(50)
    splits, _ = split_rows(rows, 0.2, 3, None, 0.1)
    by_rows = Dataset.from_dict({"i": range(50)}).train_test_split(test_size=0.2, seed=3)
    assert splits["test"] == [rows[i] for i in by_rows["test"]["i"]]


def test_a_group_split_keeps_prompts_out_of_training_test_and_test_seen_topics():
    # Prompts repeat within their group (topic q in group q % 20); three also in the next group.
    rows = [
        {**row, "topic_group": f"g{(topic(row) + (i in (5, 50, 150))) % 20}"}
        for i, row in enumerate(repeated_prompts(300))
    ]
    splits, stats = prepare_splits(
        Dataset.from_list(rows), PrepareParams(test_size=0.2, seen_test_size=0.2)
    )
    assert stats["split_by"] == "topic_group"
    assert_no_shared_prompt(splits)
    groups = {name: {r["topic_group"] for r in split} for name, split in splits.items()}
    assert not groups["test"] & groups["train"]
    assert groups["test_seen_topics"] <= groups["train"]
    assert abs(len(splits["test_seen_topics"]) - 0.2 * (300 - len(splits["test"]))) <= 6


def test_groups_that_share_a_prompt_are_held_out_together():
    rows = [
        {"prompt": f"q{i}", "chosen": f"c{i}", "rejected": "r", "topic_group": f"g{i % 6}"}
        for i in range(60)
    ]
    # g0 and g1 share a prompt: whichever is held out takes the other along.
    rows.append({"prompt": "Q0", "chosen": "other", "rejected": "r", "topic_group": "g1"})
    for seed in range(6):
        splits, _ = split_rows(rows, 0.2, seed, "topic_group", 0.0)
        test_groups = {r["topic_group"] for r in splits["test"]}
        assert ({"g0", "g1"} <= test_groups) or not ({"g0", "g1"} & test_groups)
        assert_no_shared_prompt(splits)


def test_pairs_from_rated_completions_never_straddle_the_split():
    rng = random.Random(1)
    rows = [
        {
            "prompt": f"Prompt {i % 30}",  # each prompt twice, in two rows
            "completions": [f"answer {i}-{k}" for k in range(4)],
            "completion_scores": [rng.randint(1, 5) for _ in range(4)],
        }
        for i in range(60)
    ]
    data = DataParams(
        source="rated.jsonl",
        pairs_from="all",
        columns={"completions": "completions", "completion_scores": "completion_scores"},
    )
    splits, stats = prepare_splits(Dataset.from_list(rows), PrepareParams(test_size=0.2), data)
    assert_no_shared_prompt(splits)
    assert stats["prompts"] == {"train": 24, "test": 6}
    assert sum(int(n) * c for n, c in stats["ratings"]["pairs_per_prompt"].items()) == (
        stats["train_pairs"] + stats["test_pairs"]
    )


def test_training_pairs_sharing_a_prompt_with_the_sources_test_split_are_dropped():
    train_rows = toy_pairs(30)
    test_rows = [  # two of the training prompts, one in other case and spacing
        {"prompt": train_rows[3]["prompt"], "chosen": "A fact.", "rejected": "No."},
        {"prompt": "  " + train_rows[7]["prompt"].upper(), "chosen": "A fact.", "rejected": "No."},
        {"prompt": "A new question?", "chosen": "A fact.", "rejected": "No."},
    ]
    data = DataParams(source="pairs", test_split="test")
    splits, stats = prepare_splits(
        Dataset.from_list(train_rows), PrepareParams(), data, Dataset.from_list(test_rows)
    )
    assert_no_shared_prompt(splits)
    assert (stats["train_pairs"], stats["test_pairs"]) == (28, 3)
    assert stats["test_split"]["shared_prompts"] == 2
    assert stats["dropped"]["prompt_in_test"] == 2 and stats["rows_out"] == 28


def test_groups_linked_into_one_by_shared_prompts_leave_training_empty_and_say_why():
    rows = [
        {"prompt": "the same prompt", "chosen": f"c{i}", "rejected": "r", "topic_group": f"g{i}"}
        for i in range(10)
    ]
    with pytest.raises(UserError, match=r"leaves train empty \(10 groups share prompts"):
        split_rows(rows, 0.2, 0, "topic_group", 0.1)


def test_rated_completions_with_the_sources_test_split_keep_test_prompts_out_of_training():
    def rated(prompts: list[str]) -> Dataset:
        return Dataset.from_list(
            [
                {
                    "prompt": p,
                    "completions": [f"{p} {x}" for x in "abc"],
                    "completion_scores": [3, 1, 2],
                }
                for p in prompts
            ]
        )

    data = DataParams(
        source="rated",
        test_split="test",
        pairs_from="best_vs_rest",
        columns={"completions": "completions", "completion_scores": "scores"},
    )
    train, test = rated([f"Q{i}" for i in range(8)]), rated(["q3", "New one"])
    splits, stats = prepare_splits(train, PrepareParams(), data, test)
    assert_no_shared_prompt(splits)
    assert (stats["train_pairs"], stats["test_pairs"]) == (14, 4)  # Q3's two pairs dropped
    assert stats["dropped"]["prompt_in_test"] == 2 and stats["test_split"]["shared_prompts"] == 1
    assert stats["ratings"]["pairs_per_prompt"] == {"0": 1, "2": 7}
    assert stats["test_rows"]["ratings"]["pairs_per_prompt"] == {"2": 2}
