"""Overlap with training: exact and 13-gram prompt overlap on hand-worked prompts, the shares and
the warning line, ``evaluate.overlap: exclude``, and the keys the evaluate stage writes."""

from __future__ import annotations

import contextlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import write_jsonl, write_params
from rewardlab.core.errors import UserError
from rewardlab.evaluation import overlap
from rewardlab.evaluation.overlap import (
    Overlap,
    TrainingPrompts,
    check_sets,
    kept_pairs,
    ngram_words,
    normalise,
    overlap_block,
    warning_line,
)
from tiny_run import TINY_RUN

# 30 distinct words: a long training prompt to take runs of words from.
LONG = [f"w{i}" for i in range(30)]


def words(*parts: list[str] | str) -> str:
    return " ".join(p if isinstance(p, str) else " ".join(p) for p in parts)


def check(training: list, prompts: list) -> Overlap:
    return TrainingPrompts(training).check(prompts)


def test_normalising_folds_case_and_whitespace_and_reads_conversations_as_their_text():
    assert normalise("  Hello\tWORLD \n\n how  are you? ") == "hello world how are you?"
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How do I boil an EGG?"},
    ]
    assert normalise(conversation) == "be brief. how do i boil an egg?"
    assert normalise(None) == normalise("") == ""
    assert ngram_words("don't stop, “now”!") == ["dont", "stop", "“now”"]  # ASCII punctuation


def test_exact_overlap_ignores_case_and_whitespace_but_not_wording():
    training = ["How do I boil an egg?", "Name three rivers in Europe."]
    found = check(
        training,
        [
            "how do i   BOIL an egg?",  # exact
            [{"role": "user", "content": "NAME three rivers\nin Europe."}],  # a conversation
            "How do I boil an egg",  # punctuation differs: not exact (but taken whole, below)
            "How do I boil two eggs?",
        ],
    )
    assert found.exact.tolist() == [True, True, False, False]
    assert found.ngram.tolist() == [True, True, True, False]


def test_a_13_gram_shared_mid_prompt_counts_and_12_shared_words_do_not():
    training = [words(LONG)]
    fresh = "alpha beta gamma delta epsilon"
    found = check(
        training,
        [
            words(fresh, LONG[8:21], fresh),  # 13 words of the training prompt, mid-prompt
            words(fresh, LONG[8:20], fresh),  # 12
            words(fresh, LONG[0:7], LONG[8:14], fresh),  # 13 of its words, but not in a row
            words(fresh.upper(), [w.upper() + "," for w in LONG[17:30]]),  # its last 13
        ],
    )
    assert found.ngram.tolist() == [True, False, False, True]
    assert not found.exact.any()


def test_a_13_gram_across_two_training_prompts_does_not_count(monkeypatch):
    # Two prompts side by side in the hashed text, and in separate batches of the index.
    first, second = words(LONG[:15]), words([f"v{i}" for i in range(15)])
    straddling = words(LONG[8:15], [f"v{i}" for i in range(6)])  # 7 + 6 words
    for chunk in (4096, 1):
        monkeypatch.setattr(overlap, "CHUNK", chunk)
        assert check([first, second], [straddling]).ngram.tolist() == [False]
        assert check([first, "x y", second], [words(LONG[2:15])]).ngram.tolist() == [True]


def test_a_prompt_shorter_than_13_words_counts_when_a_training_prompt_holds_it_whole():
    training = ["Quick question: how do I boil an egg? Thanks a lot.", "boil rice"]
    found = check(
        training,
        [
            "How do I boil an egg?",  # all 6 words, in a row, inside the training prompt
            "How do I boil an egg quickly?",  # the last word is not there
            "how do i egg",  # the words, but not in a row
            "Boil rice for dinner",  # holds a short training prompt: the rule looks one way
            "boil",  # one word is a run of one
            "",  # empty: never an overlap
            "???",  # no words left without punctuation: not by n-gram, exact only
        ],
    )
    assert found.ngram.tolist() == [True, False, False, False, True, False, False]
    assert not found.exact.any()
    assert check(["", "???"], ["", "???"]).exact.tolist() == [False, True]


def test_shares_are_of_all_the_pairs_and_exclude_counts_what_it_leaves_out():
    found = Overlap(
        exact=np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=bool),
        ngram=np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool),
    )
    report = overlap_block(found, "report")
    assert report == {
        "exact_pairs": 1,
        "exact_share": 0.125,
        "ngram_pairs": 3,
        "ngram_share": 0.375,
        "excluded_pairs": 0,
    }
    assert overlap_block(found, "exclude") == {**report, "excluded_pairs": 3}
    frame = pd.DataFrame({"chosen_reward": np.arange(8.0)})
    assert kept_pairs(frame, found, "report") is frame
    kept = kept_pairs(frame, found, "exclude")
    assert kept.index.tolist() == [2, 4, 5, 6, 7]  # rows of the set, for the pairs' ids


def test_a_warning_line_only_above_one_percent():
    def flags(flagged: int, exact: int = 0) -> Overlap:
        ngram = np.arange(100) < flagged
        return Overlap(exact=np.arange(100) < exact, ngram=ngram)

    assert warning_line("test", flags(0), "report") is None
    assert warning_line("test", flags(1), "report") is None  # 1% is not above 1%
    line = warning_line("test_seen_topics", flags(37, exact=20), "report")
    assert line == (
        "evaluate: warning: test_seen_topics: 37 of 100 pairs (37.0%) share their prompt "
        "with training (20 exactly); counted in its figures"
    )
    assert len(line) <= 160
    assert warning_line("x", flags(2), "exclude").endswith("; left out of its figures")


def test_exclude_refuses_to_leave_a_set_empty():
    training = ["one prompt"]
    assert check_sets(training, {"a": ["One  prompt", "other"]}, "exclude")["a"].exact.sum() == 1
    with pytest.raises(UserError, match=r"evaluate.overlap: exclude leaves no pairs in a: all 1"):
        check_sets(training, {"a": ["ONE PROMPT"]}, "exclude")
    check_sets(training, {"a": ["ONE PROMPT"]}, "report")  # reporting it is fine


def test_evaluate_writes_the_overlap_of_every_set_and_exclude_leaves_the_pairs_out(
    tiny_run, tmp_path, capsys
):
    metrics = json.loads((tiny_run / "reports/metrics.json").read_text())
    keys = {"exact_pairs", "exact_share", "ngram_pairs", "ngram_share", "excluded_pairs"}
    assert set(metrics["overlap"]) == keys  # the headline split, at the top level
    assert metrics["overlap"]["ngram_pairs"] == 0  # the toy prompts are all different

    # The same run, evaluated again with a set that repeats four training prompts (in other
    # case and spacing) among four new ones, leaving the overlapping pairs out.
    for part in ("data/features", "models/reward_model", "data/eval"):
        shutil.copytree(tiny_run / part, tmp_path / part)
    trained = [json.loads(line) for line in (tiny_run / "data/prepared/train.jsonl").open()]
    repeated = [{**row, "prompt": "  " + row["prompt"].upper()} for row in trained[:4]]
    new = [{**row, "prompt": f"Something else entirely, number {i}."} for i, row in
           enumerate(trained[4:8])]  # fmt: skip
    write_jsonl(tmp_path / "leaky.jsonl", repeated + new)
    sets = {"everyday": {"source": "data/eval/everyday.jsonl"}, "leaky": {"source": "leaky.jsonl"}}
    write_params(tmp_path, {**TINY_RUN, "evaluate": {"batch_size": 5, "sets": sets,
                                                     "overlap": "exclude"}})  # fmt: skip
    from rewardlab.stages import evaluate

    with contextlib.chdir(tmp_path):
        evaluate.main(["--params", "params.yaml"])
    excluded = json.loads((tmp_path / "reports/metrics.json").read_text())
    leaky = excluded["sets"]["leaky"]
    assert leaky["overlap"] == {
        "exact_pairs": 4,
        "exact_share": 0.5,
        "ngram_pairs": 4,
        "ngram_share": 0.5,
        "excluded_pairs": 4,
    }
    assert leaky["pairs"] == 4  # the figures rest on the four new prompts only
    assert set(excluded["overlap"]) == set(excluded["sets"]["everyday"]["overlap"]) == keys
    assert len((tmp_path / "reports/pairs/leaky.jsonl").read_text().splitlines()) == 4
    assert excluded["pairs"] == metrics["pairs"]  # nothing of the test split overlaps
    output = capsys.readouterr().out
    assert (
        "evaluate: warning: leaky: 4 of 8 pairs (50.0%) share their prompt with training "
        "(4 exactly); left out of its figures"
    ) in output.splitlines()
    assert "warning: test:" not in output


def test_the_benchmark_finds_what_it_planted(capsys):
    from rewardlab.tools import overlap_bench

    overlap_bench.main(["--train", "2000", "--eval", "300", "--repeats", "1"])
    rows = dict(line.strip().rsplit("  ", 1) for line in capsys.readouterr().out.splitlines()[1:])
    rows = {name.strip(): value.strip() for name, value in rows.items()}
    assert rows["exact overlap: found / planted"] == "3 / 3"  # 1% of 300, other case and spacing
    assert rows["13-gram overlap: found / planted"].endswith(" / 9")  # 1% of each of 3 kinds
    assert rows["planted ones missed"] == "0"
    assert {"build (hash the training prompts)", "peak memory (tracemalloc)"} <= set(rows)


def test_under_exclude_scores_jsonl_keeps_each_pairs_row_in_the_test_split(tmp_path):
    from rewardlab.stages.evaluate import write_scores

    frame = pd.DataFrame({"chosen_reward": [0.5, 1.0, 2.0], "chosen_tokens": [3, 4, 5]})
    kept = kept_pairs(frame, Overlap(np.array([1, 0, 0], bool), np.array([1, 0, 1], bool)),
                      "exclude")  # fmt: skip
    with contextlib.chdir(tmp_path):
        write_scores(kept)
    rows = [json.loads(line) for line in (tmp_path / "reports/scores.jsonl").open()]
    assert rows == [{"index": 1, "chosen_reward": 1.0, "chosen_tokens": 4}]
