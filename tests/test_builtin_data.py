"""Specification of the built-in synthetic preference data (rewardlab.sources.builtin)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from rewardlab.sources import builtin as builtin_data
from rewardlab.sources.builtin import (
    FAILURE_MODES,
    SHAPES,
    TOPICS,
    Shape,
    Topic,
    generate_pairs,
    generate_pairs_with_modes,
    max_pairs,
)

SAMPLE = 3000


@cache
def _sample(seed: int) -> tuple[tuple[dict[str, str], str], ...]:
    return tuple(generate_pairs_with_modes(SAMPLE, seed=seed))


@cache
def _prompt_index() -> dict[str, tuple[Topic, Shape]]:
    """Map every un-prefixed prompt text to the topic and shape it was built from."""
    return {
        template.replace("{t}", topic.name): (topic, shape)
        for topic in TOPICS
        for shape in SHAPES
        for template in shape.templates
    }


def _parse_prompt(prompt: str) -> tuple[Topic, Shape]:
    index = _prompt_index()
    for start in range(len(prompt)):  # the first hit is the longest, i.e. the whole instruction
        if prompt[start:] in index:
            return index[prompt[start:]]
    raise AssertionError(f"prompt not built from any topic/shape: {prompt!r}")


def _true_facts_in(text: str, topics: tuple[Topic, ...] = TOPICS) -> list[str]:
    return [fact for topic in topics for fact in topic.facts if fact in text]


def _false_facts_in(text: str) -> list[str]:
    return [fact for topic in TOPICS for fact in topic.wrong_facts if fact in text]


def _longer_wins(rows: list[dict[str, str]]) -> float:
    return sum(len(r["chosen"]) > len(r["rejected"]) for r in rows) / len(rows)


def _rows_of_mode(seed: int, mode: str) -> list[dict[str, str]]:
    return [row for row, row_mode in _sample(seed) if row_mode == mode]


def test_same_seed_and_size_give_identical_rows() -> None:
    assert generate_pairs(500, seed=3) == generate_pairs(500, seed=3)


def test_different_seeds_give_a_different_selection_and_order() -> None:
    first, second = generate_pairs(200, seed=0), generate_pairs(200, seed=1)
    assert [r["prompt"] for r in first] != [r["prompt"] for r in second]
    assert {r["prompt"] for r in first} != {r["prompt"] for r in second}


def test_output_does_not_depend_on_pythonhashseed() -> None:
    src = str(Path(builtin_data.__file__).resolve().parents[1])
    code = (
        "import json; from rewardlab.sources.builtin import generate_pairs; "
        "print(json.dumps(generate_pairs(300, seed=5)))"
    )
    outputs = set()
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": src}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_generate_pairs_matches_rows_of_generate_pairs_with_modes() -> None:
    assert generate_pairs(50, seed=2) == [row for row, _ in generate_pairs_with_modes(50, seed=2)]


def test_rows_have_exactly_prompt_chosen_rejected_as_non_empty_strings() -> None:
    for row, _ in _sample(0):
        assert set(row) == {"prompt", "chosen", "rejected"}
        assert all(isinstance(value, str) and value.strip() for value in row.values())
        assert row["chosen"] != row["rejected"]


def test_returns_exactly_the_requested_number_of_rows() -> None:
    assert len(generate_pairs(1)) == 1
    assert len(generate_pairs(137, seed=9)) == 137


def test_generator_offers_at_least_3000_pairs() -> None:
    assert max_pairs() >= 3000


def test_all_rows_and_prompts_are_distinct_even_at_max_pairs() -> None:
    rows = generate_pairs(max_pairs(), seed=4)
    assert len(rows) == max_pairs()
    assert len({(r["prompt"], r["chosen"], r["rejected"]) for r in rows}) == len(rows)
    assert len({r["prompt"] for r in rows}) == len(rows)


@pytest.mark.parametrize("bad_count", [0, -5, "max+1"])
def test_out_of_range_counts_raise_value_error_naming_the_limit(bad_count: int | str) -> None:
    count = max_pairs() + 1 if bad_count == "max+1" else bad_count
    with pytest.raises(ValueError, match=str(max_pairs())):
        generate_pairs(count)  # type: ignore[arg-type]


def test_topic_and_shape_tables_are_well_formed() -> None:
    names = [topic.name for topic in TOPICS]
    assert len(set(names)) == len(names)
    assert not [a for a in names for b in names if a != b and a in b]  # prompts parse uniquely
    all_facts = [fact for topic in TOPICS for fact in topic.facts + topic.wrong_facts]
    assert len(set(all_facts)) == len(all_facts)
    for topic in TOPICS:
        assert len(topic.facts) >= 3 and len(topic.wrong_facts) >= 3
        assert all(fact.endswith(".") for fact in topic.facts + topic.wrong_facts)
    assert len({shape.name for shape in SHAPES}) == len(SHAPES)


def test_sample_covers_at_least_40_topics_and_10_instruction_shapes() -> None:
    parsed = [_parse_prompt(row["prompt"]) for row, _ in _sample(0)]
    assert len({topic.name for topic, _ in parsed}) >= 40
    assert len({shape.name for _, shape in parsed}) >= 10


def test_prompts_read_as_short_instructions() -> None:
    lengths = [len(row["prompt"].split()) for row, _ in _sample(0)]
    assert min(lengths) >= 4 and max(lengths) <= 25
    assert 8 <= sum(lengths) / len(lengths) <= 20
    assert all(row["prompt"][-1] in ".?" for row, _ in _sample(0))


def test_every_failure_mode_appears_with_a_roughly_even_share() -> None:
    counts = Counter(mode for _, mode in _sample(0))
    assert set(counts) == set(FAILURE_MODES) and len(FAILURE_MODES) == 5
    assert all(0.10 <= n / SAMPLE <= 0.30 for n in counts.values())


@pytest.mark.parametrize("seed", [0, 1])
def test_longer_response_wins_only_about_half_the_time(seed: int) -> None:
    assert 0.40 <= _longer_wins([row for row, _ in _sample(seed)]) <= 0.65


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_length_gives_no_shortcut_within_any_failure_mode(mode: str) -> None:
    assert 0.35 <= _longer_wins(_rows_of_mode(0, mode)) <= 0.65


def test_responses_are_short_enough_for_cpu_training() -> None:
    for key in ("chosen", "rejected"):
        lengths = [len(row[key].split()) for row, _ in _sample(1)]
        assert sum(lengths) / len(lengths) < 60
        assert max(lengths) <= 80


def test_chosen_answers_end_with_sentence_punctuation() -> None:
    assert all(row["chosen"].rstrip()[-1] in ".!?" for row, _ in _sample(0))


def test_chosen_answers_use_only_true_facts_about_the_prompt_topic() -> None:
    for row, _ in _sample(0):
        topic, _ = _parse_prompt(row["prompt"])
        chosen = row["chosen"]
        assert _true_facts_in(chosen, (topic,)), row
        assert _true_facts_in(chosen) == _true_facts_in(chosen, (topic,)), row
        assert not _false_facts_in(chosen), row


def test_list_shapes_get_list_answers() -> None:
    for row, _ in _sample(0):
        _, shape = _parse_prompt(row["prompt"])
        lines = row["chosen"].splitlines()
        if shape.layout == "bullets":
            assert len(lines) >= 3 and all(line.startswith("- ") for line in lines[1:])
        elif shape.layout == "numbered":
            assert [line.split(" ")[0] for line in lines[1:]] == [
                f"{i}." for i in range(1, len(lines))
            ]
        else:
            assert len(lines) == 1


def test_off_topic_rejections_are_good_answers_about_another_topic() -> None:
    for row in _rows_of_mode(0, "off_topic"):
        topic, _ = _parse_prompt(row["prompt"])
        assert _true_facts_in(row["rejected"]) and not _true_facts_in(row["rejected"], (topic,))


def test_evasive_rejections_contain_no_facts() -> None:
    rejections = [row["rejected"] for row in _rows_of_mode(0, "evasive")]
    assert not [r for r in rejections if _true_facts_in(r) or _false_facts_in(r)]
    assert len(set(rejections)) > 100  # phrasings vary


def test_factually_wrong_rejections_state_only_false_facts_about_the_same_topic() -> None:
    for row in _rows_of_mode(0, "factually_wrong"):
        topic, _ = _parse_prompt(row["prompt"])
        wrong = [fact for fact in topic.wrong_facts if fact in row["rejected"]]
        assert wrong and not _true_facts_in(row["rejected"]), row


def test_repetitive_rejections_loop_one_sentence_at_least_three_times() -> None:
    for row in _rows_of_mode(0, "repetitive"):
        lines = row["rejected"].splitlines()
        if len(lines) == 1:  # prose: the same sentence over and over
            units = Counter(s.rstrip(".") for s in lines[0].split(". "))
        else:  # list: the same item after the intro line
            units = Counter(line.split(" ", 1)[1] for line in lines[1:])
        assert len(units) == 1 and next(iter(units.values())) >= 3, row


def test_incomplete_rejections_start_correctly_and_stop_mid_sentence() -> None:
    for row in _rows_of_mode(0, "incomplete"):
        rejected = row["rejected"]
        assert not rejected.endswith(".") or rejected.endswith("..."), row
        assert not _false_facts_in(rejected)
        topic, _ = _parse_prompt(row["prompt"])
        tail = rejected.removesuffix("...").removesuffix(" and")
        cut_facts = [
            fact
            for fact in topic.facts
            for end in range(10, len(fact) - 1)
            if tail.endswith(fact[:end])
        ]
        assert cut_facts, row  # it trails off inside one of the topic's true facts
