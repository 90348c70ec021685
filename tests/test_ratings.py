"""Pairs from rated completions (``data.pairs_from``) and pairwise ties (``data.columns.tie``):
the exact pairs and margins of each mode on a four-completion fixture worked by hand, ties
dropped and counted, the pairs-per-prompt histogram, UltraFeedback's raw nested layout through
the prepare stage, and the one-line errors of a bad mapping."""

from __future__ import annotations

import json
import re

import pytest
from datasets import Dataset

from conftest import write_jsonl, write_params
from ratings_fixtures import ULTRAFEEDBACK, ultrafeedback_rows
from rewardlab.core.errors import UserError
from rewardlab.core.params import DataParams, PrepareParams, load_params
from rewardlab.data.formats import is_tie
from rewardlab.data.preparation import prepare_splits
from rewardlab.data.ratings import candidate_pairs, expand
from rewardlab.stages import prepare as prepare_stage

# Four completions per prompt; P0 has a tie at the top (A0 = C0 = 7), P1 is all ties, P2 none.
SCORES = {"P0": [7, 3, 7, 1], "P1": [2, 2, 2, 2], "P2": [1, 4, 2, 3]}
ROWS = [
    {"prompt": p, "responses": [f"{x}{p[1]}" for x in "ABCD"], "scores": s}
    for p, s in SCORES.items()
]
COLUMNS = {"completions": "responses", "completion_scores": "scores"}
# Worked by hand: (chosen, rejected, score difference). "The best" is the first of the top.
EXPECTED = {
    "best_vs_worst": [("A0", "D0", 6), ("B2", "A2", 3)],
    "best_vs_rest": [
        *[("A0", "B0", 4), ("A0", "D0", 6)],
        *[("B2", "A2", 3), ("B2", "C2", 2), ("B2", "D2", 1)],
    ],
    "all": [
        *[("A0", "B0", 4), ("A0", "D0", 6), ("C0", "B0", 4), ("B0", "D0", 2), ("C0", "D0", 6)],
        *[("B2", "A2", 3), ("C2", "A2", 1), ("D2", "A2", 2), ("B2", "C2", 2), ("B2", "D2", 1)],
        ("D2", "C2", 1),
    ],
}
# Candidate pairs of equal score: P0's A0-C0 (not in best_vs_worst), and P1's 1, 3 or 6.
TIES = {"best_vs_worst": 1, "best_vs_rest": 1 + 3, "all": 1 + 6}
PER_PROMPT = {
    "best_vs_worst": {"0": 1, "1": 2},
    "best_vs_rest": {"0": 1, "2": 1, "3": 1},
    "all": {"0": 1, "5": 1, "6": 1},
}


def ratings(mode: str, **extra: object) -> DataParams:
    columns = {**COLUMNS, **extra.pop("columns", {})}  # type: ignore[dict-item]
    return DataParams(source="rated.jsonl", pairs_from=mode, columns=columns, **extra)


def mapped(rows: list[dict]) -> list[dict]:
    """Rows as ``map_columns`` hands them on: canonical column names."""
    return [
        {"prompt": r["prompt"], "completions": r["responses"], "completion_scores": r["scores"]}
        for r in rows
    ]


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_each_mode_makes_the_hand_worked_pairs_and_margins(mode):
    expanded = expand(mapped(ROWS), ratings(mode, pairs_margin=True, margin_scale=0.5))
    made = [(p["chosen"], p["rejected"], p["margin"] / 0.5) for p in expanded.pairs]
    assert made == EXPECTED[mode]
    assert expanded.dropped == {"tie": TIES[mode]}
    assert {p["prompt"] for p in expanded.pairs} == {"P0", "P2"}


def test_equal_scores_never_pair_and_the_first_of_the_top_is_the_best():
    assert candidate_pairs([5, 5], "all") == ([], 1)
    assert candidate_pairs([5, 5], "best_vs_worst") == ([], 1)
    assert candidate_pairs([1, 9, 9, 0], "best_vs_rest") == ([(1, 0), (1, 3)], 1)
    assert candidate_pairs([3, 0, 0], "best_vs_worst") == ([(0, 1)], 0)  # first of the bottom


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_prepare_counts_ties_and_pairs_per_prompt(mode):
    rows = Dataset.from_list(ROWS)
    data = ratings(mode, pairs_margin=True)
    splits, stats = prepare_splits(_mapped_dataset(rows), PrepareParams(test_size=0.5), data)
    kept = [(p["chosen"], p["rejected"], p["margin"]) for s in splits.values() for p in s]
    assert sorted(kept) == sorted(EXPECTED[mode])
    assert {r: n for r, n in stats["dropped"].items() if n} == {"tie": TIES[mode]}
    assert stats["rows_in"] == len(EXPECTED[mode]) + TIES[mode]  # candidate pairs
    assert stats["ratings"] == {
        "pairs_from": mode,
        "source_rows": 3,
        "candidate_pairs": len(EXPECTED[mode]) + TIES[mode],
        "ties": TIES[mode],
        "completions_per_prompt": {"4": 3},
        "pairs_per_prompt": PER_PROMPT[mode],
    }
    assert stats["margin"]["pairs"] == len(EXPECTED[mode])
    assert not {"_source_row", "completions", "completion_scores"} & set(splits["train"][0])


def _mapped_dataset(rows: Dataset) -> Dataset:
    return Dataset.from_list(mapped(rows.to_list()))


def test_without_pairs_margin_the_pairs_carry_no_margin():
    splits, stats = prepare_splits(
        Dataset.from_list(mapped(ROWS)), PrepareParams(test_size=0.5), ratings("all")
    )
    assert "margin" not in splits["train"][0] and stats["margin"] is None


def test_ultrafeedback_raw_ratings_through_the_prepare_stage(tmp_path, monkeypatch, capsys):
    source = write_jsonl(tmp_path / "uf.jsonl", ultrafeedback_rows(12))
    write_params(tmp_path, {"data": {"source": str(source), **ULTRAFEEDBACK}})
    monkeypatch.chdir(tmp_path)
    prepare_stage.main(["--params", "params.yaml"])
    stats = json.loads((tmp_path / "data/prepared/stats.json").read_text())
    # 8 rows rated [6.5, 9, 6.5, 3]: gpt-4 against each other, 3 pairs; 4 rows all 5: 3 ties.
    assert stats["ratings"]["pairs_per_prompt"] == {"0": 4, "3": 8}
    assert stats["dropped"]["tie"] == 12
    assert (stats["rows_in"], stats["rows_out"]) == (36, 24)
    assert stats["margin"] == {"from": "(chosen's overall_score - rejected's) * 1.0", "pairs": 24}
    assert stats["category"] == {"from": "source", "pairs": 24}
    pairs = [
        json.loads(line)
        for name in ("train", "test")
        for line in (tmp_path / f"data/prepared/{name}.jsonl").read_text().splitlines()
    ]
    first = next(p for p in pairs if p["prompt"].startswith("Question 1:"))
    assert first["chosen"] == "gpt-4 says: answer 1."
    assert sorted(p["margin"] for p in pairs if p["prompt"] == first["prompt"]) == [2.5, 2.5, 6]
    assert first["category"] == "evol_instruct"
    assert set(first) == {"prompt", "chosen", "rejected", "margin", "category"}
    line = capsys.readouterr().out
    assert "12 rows of rated completions -> 36 candidate pairs (best_vs_rest;" in line
    assert "dropped 12 (12 tie)" in line


def test_completions_as_message_lists_make_conversational_pairs():
    rows = [
        {
            "prompt": f"Say {w}.",
            "completions": [[{"role": "assistant", "content": f"{w}{'!' * k}"}] for k in range(3)],
            "completion_scores": [1, 3, 2],
        }
        for w in ("hi", "bye")
    ]
    splits, stats = prepare_splits(
        Dataset.from_list(rows), PrepareParams(test_size=0.5), ratings("best_vs_worst")
    )
    assert stats["format"] == {"type": "conversational", "prompt": "explicit"}
    pair = splits["train"][0]  # scores [1, 3, 2]: the one "!" against none
    word = pair["prompt"][0]["content"][4:-1]
    assert pair["prompt"] == [{"role": "user", "content": f"Say {word}."}]
    assert pair["chosen"] == [{"role": "assistant", "content": f"{word}!"}]
    assert pair["rejected"] == [{"role": "assistant", "content": word}]


@pytest.mark.parametrize(
    ("value", "tie"),
    [
        (True, True),
        ("tie", True),
        ("Tie (bothbad)", True),
        (" TRUE ", True),
        ("yes", True),
        (1, True),
        (False, False),
        (0, False),
        (None, False),
        ("model_a", False),
        ("false", False),
        (float("nan"), False),
    ],
)
def test_what_a_tie_column_value_means(value, tie):
    assert is_tie(value) is tie


def test_pairwise_rows_marked_as_ties_are_dropped_and_counted(tmp_path, monkeypatch, capsys):
    winners = ["model_a", "tie", "model_b", "tie (bothbad)"] * 5
    rows = [
        {"q": f"Question {i}?", "a": f"good {i}", "b": f"bad {i}", "winner": w}
        for i, w in enumerate(winners)
    ]
    source = write_jsonl(tmp_path / "arena.jsonl", rows)
    columns = {"prompt": "q", "chosen": "a", "rejected": "b", "tie": "winner"}
    write_params(tmp_path, {"data": {"source": str(source), "columns": columns}})
    monkeypatch.chdir(tmp_path)
    prepare_stage.main(["--params", "params.yaml"])
    stats = json.loads((tmp_path / "data/prepared/stats.json").read_text())
    assert {r: n for r, n in stats["dropped"].items() if n} == {"tie": 10}
    assert stats["train_pairs"] + stats["test_pairs"] == 10
    assert "dropped 10 (10 tie)" in capsys.readouterr().out
    kept = json.loads((tmp_path / "data/prepared/train.jsonl").read_text().splitlines()[0])
    assert set(kept) == {"prompt", "chosen", "rejected"}
    assert int(kept["prompt"].split()[1].rstrip("?")) % 4 in (0, 2)  # a model_a/model_b row


def _prepare_error(tmp_path, monkeypatch, rows: list[dict], data: dict) -> str:
    source = write_jsonl(tmp_path / "rated.jsonl", rows)
    write_params(tmp_path, {"data": {"source": str(source), **data}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        prepare_stage.main(["--params", "params.yaml"])
    assert not (tmp_path / "data").exists()  # nothing half-written
    return str(err.value)


def test_a_missing_completions_column_names_the_key(tmp_path, monkeypatch):
    message = _prepare_error(
        tmp_path,
        monkeypatch,
        ROWS,
        {"pairs_from": "all", "columns": {**COLUMNS, "completions": "r"}},
    )
    assert "lacks column(s) 'r' (data.columns.completions)" in message


def test_a_missing_prompt_column_names_the_key(tmp_path, monkeypatch):
    rows = [{k: v for k, v in row.items() if k != "prompt"} for row in ROWS]
    message = _prepare_error(tmp_path, monkeypatch, rows, {"pairs_from": "all", "columns": COLUMNS})
    assert "data.columns.prompt = 'prompt' is not a column" in message


@pytest.mark.parametrize(
    ("scores", "detail"),
    [
        ([3, 2, 1], "4 completions, 3 scores"),
        ([3, "high", 2, 1], "completion 1's score is 'high', not a finite number"),
    ],
)
def test_bad_scores_name_the_key_and_the_first_bad_row(tmp_path, monkeypatch, scores, detail):
    rows = [{**row, "scores": scores} for row in ROWS]
    message = _prepare_error(tmp_path, monkeypatch, rows, {"pairs_from": "all", "columns": COLUMNS})
    assert "no usable pairs left in the train split out of 3" in message
    assert f"'bad_scores' (3), first at row 0 in column 'scores' ({detail})" in message
    assert "map data.columns.completion_scores" in message


def test_a_wrong_completion_text_field_names_the_key_and_the_fields(tmp_path, monkeypatch):
    data = {**ULTRAFEEDBACK, "columns": {**ULTRAFEEDBACK["columns"], "completion_text": "text"}}
    message = _prepare_error(tmp_path, monkeypatch, ultrafeedback_rows(4), data)
    assert "'bad_completions' (4), first at row 0 in column 'text'" in message
    assert "completion 0 has no field 'text' (model, response, overall_score" in message
    assert "data.columns.completion_text" in message


def test_mappings_without_completion_text_say_to_name_it(tmp_path, monkeypatch):
    data = {**ULTRAFEEDBACK, "columns": {**ULTRAFEEDBACK["columns"], "completion_text": None}}
    data["columns"]["completion_scores"] = "models"  # a list beside them, so mapping succeeds
    message = _prepare_error(tmp_path, monkeypatch, ultrafeedback_rows(4), data)
    assert "name their text field in data.columns.completion_text" in message


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"pairs_from": "all"}, "data.pairs_from = 'all' needs data.columns.completions"),
        (
            {"columns": COLUMNS},
            "data.columns.completions, data.columns.completion_scores: read only with "
            "data.pairs_from set (best_vs_worst, best_vs_rest or all)",
        ),
        ({"pairs_margin": True}, "data.pairs_margin needs data.pairs_from"),
        (
            {"pairs_from": "all", "columns": {**COLUMNS, "chosen": "best"}},
            "data.columns.chosen is not read with data.pairs_from: remove it",
        ),
        (
            {"pairs_from": "all", "columns": {**COLUMNS, "tie": "winner"}},
            "data.columns.tie is not read with data.pairs_from (equal scores are ties)",
        ),
        (
            {"pairs_from": "all", "columns": {**COLUMNS, "margin": "m"}},
            "data.columns.margin is not read with data.pairs_from (set data.pairs_margin: true)",
        ),
        ({"pairs_from": "every"}, "data.pairs_from = 'every': expected null or one of"),
    ],
)
def test_contradicting_params_name_the_keys(tmp_path, data, problem):
    data = {"source": "rated.jsonl", **data}
    with pytest.raises(UserError, match=re.escape(problem)):
        load_params(write_params(tmp_path, {"data": data}))


def test_builtin_has_no_ratings(tmp_path):
    with pytest.raises(UserError, match="needs a source of rated completions, not builtin"):
        load_params(write_params(tmp_path, {"data": {"pairs_from": "all", "columns": COLUMNS}}))
