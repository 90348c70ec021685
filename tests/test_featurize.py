from datasets import Dataset

from conftest import toy_pairs
from rewardlab.core.params import FeaturizeParams, ModelParams
from rewardlab.data.tokenizing import format_pair, tokenize_split
from rewardlab.model.loading import load_tokenizer

TEMPLATE = "\n\nHuman: {prompt}\n\nAssistant: {response}"


def formatted(rows: list[dict]) -> Dataset:
    return Dataset.from_list([format_pair(row, TEMPLATE) for row in rows])


def long_pair() -> dict:
    return {"prompt": "Tell me about rain.", "chosen": "rain " * 200, "rejected": "no."}


def test_truncate_cuts_both_sides_to_the_token_budget_and_keeps_the_closing_token():
    tokenizer = load_tokenizer(ModelParams())
    data, stats = tokenize_split(
        formatted([long_pair(), *toy_pairs(3)]),
        tokenizer,
        FeaturizeParams(max_length=32, overflow="truncate"),
    )
    assert len(data) == 4
    assert stats["pairs_truncated"] == 1
    assert len(data[0]["chosen_ids"]) == 32
    assert data[0]["chosen_ids"][-1] == tokenizer.sep_token_id
    assert all(len(ids) <= 32 for ids in [*data["chosen_ids"], *data["rejected_ids"]])
    assert stats["chosen_tokens"]["max"] > 200  # lengths are described before truncation


def test_drop_removes_a_pair_when_either_side_is_too_long():
    tokenizer = load_tokenizer(ModelParams())
    swapped = {**long_pair(), "chosen": "no.", "rejected": "rain " * 200}
    data, stats = tokenize_split(
        formatted([long_pair(), swapped, *toy_pairs(3)]),
        tokenizer,
        FeaturizeParams(max_length=32, overflow="drop"),
    )
    assert (len(data), stats["pairs_dropped"]) == (3, 2)


def test_ids_match_the_tokenizer_and_length_is_the_longer_side():
    tokenizer = load_tokenizer(ModelParams())
    data, _ = tokenize_split(formatted(toy_pairs(2)), tokenizer, FeaturizeParams())
    row = data[0]
    assert row["chosen_ids"] == tokenizer(row["chosen_text"])["input_ids"]
    assert row["length"] == max(len(row["chosen_ids"]), len(row["rejected_ids"]))


def test_the_summary_line_is_short_and_counts_the_budget():
    from rewardlab.core.params import FeaturizeParams
    from rewardlab.stages.featurize import summary_line

    block = {"pairs_in": 10, "pairs_out": 10, "pairs_truncated": 2, "chosen_tokens": {}}
    stats = {"template": "t", "rendering": {"chat_template": None}, "max_length": 64}
    stats |= {"train": block, "test": {**block, "pairs_truncated": 0}}
    line = summary_line(stats, FeaturizeParams(max_length=64), chat_template=False)
    assert line == (
        "featurize: 20 pairs -> 10 train, 10 test (role template, <= 64 tokens a side); "
        "2 over the budget truncated"
    )
