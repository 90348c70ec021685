"""Specification of the built-in preference data (rewardlab.data.sources.generator and .topics)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from functools import cache

import pytest

from rewardlab.data.sources.generator import MODES, generate_pairs
from rewardlab.data.sources.topics import all_topics, tables
from rewardlab.data.splitting import split_rows

SAMPLE = 3000
COLUMNS = {"prompt", "chosen", "rejected", "category", "topic", "topic_group"}


@cache
def _sample(seed: int = 0) -> tuple[dict[str, str], ...]:
    return tuple(generate_pairs(SAMPLE, seed=seed))


@cache
def _splits() -> dict[str, list[dict[str, str]]]:
    splits, by = split_rows(list(_sample()), 0.2, 42, "topic_group", 0.1)
    assert by == "topic_group"
    return splits


def _longer_wins(rows) -> float:
    return sum(len(r["chosen"]) > len(r["rejected"]) for r in rows) / len(rows)


def test_output_is_byte_identical_for_a_seed_whatever_the_hash_seed() -> None:
    code = (
        "import json, rewardlab.data.sources.generator as g; "
        "print(json.dumps(g.generate_pairs(400, 7)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            check=True,
        ).stdout
        for hash_seed in ("0", "4242")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == generate_pairs(400, seed=7)


def test_another_seed_gives_other_rows_and_fewer_rows_are_a_prefix() -> None:
    assert generate_pairs(200, seed=0) != generate_pairs(200, seed=1)
    assert generate_pairs(150, seed=3) == generate_pairs(400, seed=3)[:150]
    assert len(generate_pairs(1)) == 1
    with pytest.raises(ValueError, match="at least 1"):
        generate_pairs(0)


def test_rows_are_non_empty_strings_with_a_category_and_a_topic() -> None:
    for row in _sample():
        assert set(row) == COLUMNS
        assert all(isinstance(value, str) and value.strip() for value in row.values())
        assert row["chosen"] != row["rejected"]
    assert len({(r["prompt"], r["chosen"], r["rejected"]) for r in _sample()}) >= 0.99 * SAMPLE


def test_every_failure_mode_is_present_and_balanced() -> None:
    counts = Counter(row["category"] for row in _sample())
    assert set(counts) == set(MODES) and len(MODES) == 8
    assert max(counts.values()) - min(counts.values()) <= 1


def test_hundreds_of_topics_of_many_kinds() -> None:
    topics = {row["topic"] for row in _sample()}
    kinds = {topic.kind for topic in all_topics(0)}
    assert len(topics) >= 500 and len(all_topics(0)) >= 1000
    assert len(kinds) >= 12 and kinds == set(tables()["kind_weights"]) == set(tables()["prompts"])


@pytest.mark.parametrize("split", ["train", "test"])
def test_longer_answer_wins_about_half_the_time_in_train_and_held_out_test(split: str) -> None:
    assert 0.44 <= _longer_wins(_splits()[split]) <= 0.56


@pytest.mark.parametrize("mode", MODES)
def test_length_is_no_shortcut_within_a_failure_mode(mode: str) -> None:
    assert 0.3 <= _longer_wins([r for r in _sample() if r["category"] == mode]) <= 0.7


def test_held_out_topics_and_their_facts_never_appear_in_training() -> None:
    splits = _splits()
    train, test, seen = splits["train"], splits["test"], splits["test_seen_topics"]
    assert len(test) > 400 and len(seen) > 150
    assert not {r["topic"] for r in train} & {r["topic"] for r in test}
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
    assert {r["topic_group"] for r in seen} <= {r["topic_group"] for r in train}
    # Every sentence a held-out topic knows (true or false) stays out of the training text.
    train_text = "\n".join(r["prompt"] + r["chosen"] + r["rejected"] for r in train)
    held_out = {r["topic"] for r in test}
    facts = {
        sentence.rstrip(".")
        for topic in all_topics(0)
        if topic.unit in held_out and topic.kind in ("question", "explain", "howto", "advice")
        for sentence in topic.right + topic.wrong
    }
    assert len(facts) > 50
    assert not [fact for fact in facts if fact in train_text]


def _signature(row: dict[str, str]) -> bool:
    """What a rejected answer of each mode must show (and a chosen one must not)."""
    t, topic = tables(), row["topic"]
    answer, mode = row["rejected"], row["category"]
    topics = [x for x in all_topics(0) if x.unit == topic and x.kind in row["topic"] + x.kind]
    if mode == "wrong_fact":
        return any(w.rstrip(".") in answer for x in topics for w in x.wrong)
    if mode == "harmful_advice":
        return any(u.rstrip(".") in answer for u in t["unsafe"])
    if mode == "off_topic":
        return not any(r.rstrip(".") in answer for x in topics for r in x.right if len(r) > 3)
    if mode in ("vague", "refusal"):
        fills = [re.sub(r"\{\w+\}", "", s).split(" ")[0] for s in t[mode]]
        return all(any(f in s for f in fills) for s in answer.split(". "))
    if mode == "incomplete":
        return not answer.endswith(".") or answer.endswith("...")
    if mode == "repetitive":
        parts = re.split(r"(?<=[.'?!]) |\n", answer)
        return Counter(re.sub(r"^\d+\. ", "", p) for p in parts).most_common(1)[0][1] >= 2
    dismissals = [s.split("{")[0] for s in t["rude_dismissals"]]
    return any(p in answer for p in t["rude_openers"] + t["rude_closers"] + dismissals)


@pytest.mark.parametrize("mode", MODES)
def test_rejected_answers_show_their_failure_mode(mode: str) -> None:
    rows = [r for r in _sample() if r["category"] == mode]
    assert not [r for r in rows if not _signature(r)][:3]


def test_chosen_answers_are_complete_and_carry_the_right_answer() -> None:
    right = {}
    for topic in all_topics(0):
        right.setdefault(topic.unit, []).extend(topic.right)
    for row in _sample():
        assert row["chosen"].rstrip()[-1] in ".!?'", row
        assert any(r.rstrip(".") in row["chosen"] for r in right[row["topic"]]), row


def test_tables_are_well_formed() -> None:
    t = tables()
    for key, columns in {
        "capitals": 3,
        "questions": 3,
        "translations": 5,
        "definitions": 3,
        "lists": 3,
        "howto": 2,
        "advice": 2,
        "polite": 2,
        "units": 4,
    }.items():
        assert all(len(line.split("|")) == columns for line in t[key]), key
    for entry in t["explain"]:
        assert len(entry["facts"]) >= 3 and len(entry["wrong"]) >= 2
    ids = [topic.id for topic in all_topics(0)]
    assert len(ids) == len(set(ids))
    assert set(t["answers"]) <= set(t["prompts"])
