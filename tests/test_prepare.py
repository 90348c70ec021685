import json

import pytest
from datasets import Dataset

from conftest import toy_pairs, write_jsonl, write_params
from rewardlab.core.errors import UserError
from rewardlab.core.params import FeaturizeParams, PrepareParams
from rewardlab.data.cleaning import clean_pairs
from rewardlab.data.formats import Format, normalise
from rewardlab.data.preparation import prepare_splits
from rewardlab.data.tokenizing import format_pair
from rewardlab.stages import prepare as prepare_stage

STANDARD = Format("standard", "explicit")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"prompt": "p", "chosen": None, "rejected": "r"}, "missing"),
        ({"prompt": "p", "chosen": "c"}, "missing"),
        ({"prompt": "p", "chosen": 3, "rejected": "r"}, "bad_type"),
        (
            {"prompt": "p", "chosen": [{"role": "assistant", "content": "c"}], "rejected": "r"},
            "mixed_format",
        ),
        ({"prompt": " ", "chosen": "c", "rejected": "r"}, "empty"),
        ({"prompt": "p", "chosen": "same", "rejected": "same "}, "identical"),
    ],
)
def test_each_unusable_row_gets_its_reason(row, reason):
    assert normalise(row, STANDARD).reason == reason


def test_clean_pairs_counts_every_reason_and_keeps_first_of_duplicates():
    good = {"prompt": "p", "chosen": "c", "rejected": "r"}
    rows = [
        good,
        dict(good),
        {"prompt": "p", "chosen": "", "rejected": "r"},
        {"prompt": "q", "chosen": "x", "rejected": "x"},
    ]
    cleaned = clean_pairs(rows, STANDARD)
    assert cleaned.pairs == [good]
    assert {r: n for r, n in cleaned.stats()["dropped"].items() if n} == {
        "empty": 1,
        "identical": 1,
        "duplicate": 1,
    }
    assert cleaned.first_dropped["empty"] == (2, "chosen")


def test_format_pair_renders_the_tutorial_template():
    row = format_pair(
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "No."}, FeaturizeParams().template
    )
    assert row["chosen_text"] == "\n\nHuman: Hi?\n\nAssistant: Hello."
    assert row["rejected_text"] == "\n\nHuman: Hi?\n\nAssistant: No."


def test_split_is_seeded_sized_and_disjoint():
    rows = Dataset.from_list(toy_pairs(100))
    first, stats = prepare_splits(rows, PrepareParams(test_size=0.25, seed=1))
    again, _ = prepare_splits(rows, PrepareParams(test_size=0.25, seed=1))
    other, _ = prepare_splits(rows, PrepareParams(test_size=0.25, seed=2))
    assert first == again
    assert first["test"] != other["test"]
    assert (stats["train_pairs"], stats["test_pairs"], stats["split_by"]) == (75, 25, "random")
    train_prompts = {row["prompt"] for row in first["train"]}
    assert not train_prompts & {row["prompt"] for row in first["test"]}


def test_too_many_dropped_rows_fail_with_the_counts():
    rows = Dataset.from_list(toy_pairs(4) + [{"prompt": "p", "chosen": "x", "rejected": "x"}] * 6)
    with pytest.raises(UserError, match=r"6 of 10 rows dropped.*max_drop_fraction = 0.5"):
        prepare_splits(rows, PrepareParams())


def test_nothing_left_is_an_error():
    rows = Dataset.from_list([{"prompt": "p", "chosen": "x", "rejected": "x"}])
    with pytest.raises(UserError, match="no usable pairs"):
        prepare_splits(rows, PrepareParams(max_drop_fraction=1.0))


def test_stats_are_json_serialisable():
    _, stats = prepare_splits(Dataset.from_list(toy_pairs(20)), PrepareParams())
    assert json.loads(json.dumps(stats))["rows_out"] == 20


def test_a_split_that_would_leave_a_side_empty_is_a_user_error():
    with pytest.raises(UserError, match=r"1 usable pairs cannot be split.*prepare.test_size"):
        prepare_splits(Dataset.from_list(toy_pairs(1)), PrepareParams())


def test_bad_rows_in_a_file_are_dropped_and_counted_in_stats(tmp_path, monkeypatch):
    bad = [
        {"prompt": "p", "chosen": None, "rejected": "r"},
        {"prompt": "p", "chosen": "", "rejected": "r"},
        {"prompt": "p", "chosen": 7, "rejected": "r"},
        {"prompt": "p", "chosen": "same", "rejected": "same"},
    ]
    source = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(20) + bad + toy_pairs(1))
    write_params(tmp_path, {"data": {"source": str(source)}})
    monkeypatch.chdir(tmp_path)
    prepare_stage.main(["--params", "params.yaml"])
    stats = json.loads((tmp_path / "data/prepared/stats.json").read_text())
    assert {reason: n for reason, n in stats["dropped"].items() if n} == {
        "missing": 1,
        "empty": 1,
        "bad_type": 1,
        "identical": 1,
        "duplicate": 1,
    }
    assert (stats["rows_in"], stats["rows_dropped"], stats["rows_out"]) == (25, 5, 20)


def test_too_many_bad_rows_stop_the_stage_before_it_writes(tmp_path, monkeypatch):
    rows = toy_pairs(2) + [{"prompt": "p", "chosen": "x", "rejected": "x"}] * 3
    source = write_jsonl(tmp_path / "pairs.jsonl", rows)
    write_params(tmp_path, {"data": {"source": str(source)}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"3 of 5 rows dropped.*'identical': 3"):
        prepare_stage.main(["--params", "params.yaml"])
    assert not (tmp_path / "data").exists()


def test_rows_with_a_group_column_are_split_by_group_with_a_seen_topics_split():
    rows = [{**row, "topic_group": f"g{i % 10}"} for i, row in enumerate(toy_pairs(100))]
    splits, stats = prepare_splits(
        Dataset.from_list(rows), PrepareParams(test_size=0.2, seen_test_size=0.25)
    )
    groups = {name: {row["topic_group"] for row in split} for name, split in splits.items()}
    assert stats["split_by"] == "topic_group"
    assert len(groups["test"]) == 2 and not groups["test"] & groups["train"]
    assert groups["test_seen_topics"] <= groups["train"]
    assert [len(splits[name]) for name in ("train", "test", "test_seen_topics")] == [60, 20, 20]
    no_seen, _ = prepare_splits(Dataset.from_list(rows), PrepareParams(seen_test_size=0))
    assert set(no_seen) == {"train", "test"}


def test_the_summary_names_only_the_drop_reasons_that_occurred():
    from collections import Counter

    from rewardlab.data.cleaning import describe_drops

    assert describe_drops({"missing": 0, "duplicate": 0}) == "nothing dropped"
    counts = Counter({"empty": 4, "duplicate": 8, "missing": 0, "identical": 4})
    assert describe_drops(counts) == "dropped 16 (8 duplicate, 4 empty, 4 identical)"
