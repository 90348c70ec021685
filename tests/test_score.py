"""`rewardlab score` and `rewardlab compare` on a tiny trained GPT-2: what a user runs by hand."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from datasets import Dataset

from conftest import toy_pairs
from rewardlab.cli import main as cli
from rewardlab.core.params import FeaturizeParams, ModelParams
from rewardlab.data.tokenizing import format_pair, tokenize_split
from rewardlab.model.loading import load_tokenizer
from rewardlab.model.scoring import encode_responses
from rewardlab.tools.compare import verdict
from rewardlab.tools.score import read_rows
from tiny_run import TINY_RUN


@pytest.fixture
def run(tiny_run) -> Path:
    return tiny_run


def rewardlab(*args: str) -> int:
    """Run the CLI in-process; return its exit status."""
    try:
        cli(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_a_fresh_process_reproduces_the_evaluate_stage_rewards_exactly(run, tmp_path):
    # A new interpreter loads only what models/reward_model holds: the adapter, the trained score
    # head and the template. Scoring the held-out texts must give evaluate's rewards, digit for
    # digit (same batches, same rounding), or a reload would score differently from training.
    output = tmp_path / "scored.jsonl"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [
            "rewardlab",
            "score",
            "--model",
            str(run / "models/reward_model"),
            "--input",
            str(run / "data/prepared/test.jsonl"),
            "--output",
            str(output),
            "--batch-size",
            str(TINY_RUN["evaluate"]["batch_size"]),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    scored = pd.read_json(output, lines=True)
    evaluated = pd.read_json(run / "reports/scores.jsonl", lines=True)
    assert scored["chosen_reward"].tolist() == evaluated["chosen_reward"].tolist()
    assert scored["rejected_reward"].tolist() == evaluated["rejected_reward"].tolist()


def test_score_maps_columns_keeps_input_order_and_prints_the_win_rate(run, tmp_path, capsys):
    prepared = pd.read_json(run / "data/prepared/test.jsonl", lines=True)
    evaluated = pd.read_json(run / "reports/scores.jsonl", lines=True)
    # Renamed columns, an extra column, and rows shuffled so length order != input order.
    shuffled = prepared.sample(frac=1.0, random_state=1)
    frame = pd.DataFrame(
        {
            "id": shuffled.index,
            "question": shuffled["prompt"],
            "good": shuffled["chosen"],
            "bad": shuffled["rejected"],
        }
    )
    source = tmp_path / "pairs.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "scored.csv"
    status = rewardlab(
        "score",
        "--model",
        str(run / "models/reward_model"),
        "--input",
        str(source),
        "--output",
        str(output),
        *("--prompt-column", "question", "--chosen-column", "good", "--rejected-column", "bad"),
    )
    assert status == 0
    scored = pd.read_csv(output)
    assert list(scored.columns) == [
        "id",
        "question",
        "good",
        "bad",
        "chosen_reward",
        "rejected_reward",
        "margin",
    ]
    assert scored["id"].tolist() == frame["id"].tolist()
    expected = evaluated.set_index("index").loc[scored["id"]]
    assert scored["chosen_reward"].to_numpy() == pytest.approx(expected["chosen_reward"], abs=1e-5)
    won = (scored["chosen_reward"] > scored["rejected_reward"]).mean()
    printed = capsys.readouterr().out
    assert f"{len(frame)} pairs, win rate {won:.3f} (95% CI" in printed


def test_score_gives_one_reward_per_response(run, tmp_path):
    rows = [
        {"prompt": "Tell me one fact about rain.", "answer": "Here is a fact about rain."},
        {"prompt": "Tell me one fact about rain.", "answer": "I refuse to answer that."},
        {"prompt": "Tell me one fact about rain.", "answer": "Here is a fact about rain."},
    ]
    source = tmp_path / "responses.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "scored.jsonl"
    model = str(run / "models/reward_model")
    args = ("--input", str(source), "--output", str(output), "--response-column", "answer")
    assert rewardlab("score", "--model", model, *args) == 0
    scored = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["answer"] for row in scored] == [row["answer"] for row in rows]
    assert scored[0]["reward"] == scored[2]["reward"] != scored[1]["reward"]


def score_file(run: Path, tmp_path: Path, rows: list[dict], *args: str) -> list[dict]:
    source = tmp_path / f"in{len(list(tmp_path.iterdir()))}.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / f"out{len(list(tmp_path.iterdir()))}.jsonl"
    model = str(run / "models/reward_model")
    assert rewardlab("score", "--model", model, "--input", str(source), "--output", str(output),
                     *args) == 0  # fmt: skip
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_lists_of_completions_get_one_reward_each_as_single_responses_would(run, tmp_path, capsys):
    prompt = "Tell me one fact about rain."
    answers = ["Here is a fact about rain.", "I refuse to answer that.", "Rain is wet.", "No."]
    chat = [{"role": "user", "content": "Tell me one fact about stars."}]
    turn = [[{"role": "assistant", "content": a}] for a in answers[:2]]
    rows = [  # RewardBench 2's layout: text completions, and conversational ones
        {"id": "0", "prompt": prompt, "chosen": answers[:1], "rejected": answers[1:]},
        {"id": "1", "prompt": chat, "chosen": turn[:1], "rejected": turn[1:]},
    ]
    scored = score_file(run, tmp_path, rows)
    single = score_file(
        run, tmp_path,
        [{"prompt": prompt, "response": a} for a in answers]
        + [{"prompt": chat, "response": t} for t in turn],
    )  # fmt: skip
    alone = [row["reward"] for row in single]
    # The same sequences in another order, so in other rows of a batch: equal up to float noise.
    near = {"abs": 2e-6}
    assert scored[0]["chosen_rewards"] + scored[0]["rejected_rewards"] == pytest.approx(
        alone[:4], **near
    )
    assert scored[1]["chosen_rewards"] == pytest.approx(alone[4:5], **near)
    assert scored[1]["rejected_rewards"] == pytest.approx(alone[5:], **near)
    assert [row["id"] for row in scored] == ["0", "1"]  # other columns pass through
    from rewardlab.evaluation.stats import top_credit

    row_rewards = [r["chosen_rewards"] + r["rejected_rewards"] for r in scored]
    credit = [top_credit(rewards, 1) for rewards in row_rewards]
    assert f"score: 2 prompts, best-of-N accuracy {sum(credit) / 2:.3f} (95% CI" in (
        capsys.readouterr().out
    )
    # A plain list of responses: `rewards`, in the list's order.
    listed = score_file(run, tmp_path, [{"prompt": prompt, "answers": answers}],
                        "--responses-column", "answers")  # fmt: skip
    assert listed[0]["rewards"] == pytest.approx(alone[:4], **near)


def test_a_malformed_list_of_completions_is_named_with_its_line(run, tmp_path, capsys):
    source = tmp_path / "bad.jsonl"
    rows = [{"prompt": "p", "chosen": ["a"], "rejected": ["b"]},
            {"prompt": "p", "chosen": ["a"], "rejected": [3]}]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    status = rewardlab("score", "--model", str(run / "models/reward_model"), "--input",
                       str(source), "--output", str(tmp_path / "out.jsonl"))  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "line 2: column 'rejected' is not a non-empty list of texts" in err
    assert not (tmp_path / "out.jsonl").exists()


def test_bf16_scoring_rounds_the_rewards_but_keeps_them(run, tmp_path):
    # --precision bf16 is a speed option: values move by bf16 rounding (8 mantissa bits), not
    # by a different model; and it must really run in bf16, or the option would be a no-op.
    model = str(run / "models/reward_model")
    source = run / "data/prepared/test.jsonl"
    scored = {}
    for precision in ("fp32", "bf16"):
        output = tmp_path / f"{precision}.jsonl"
        args = ("--input", str(source), "--output", str(output), "--precision", precision)
        assert rewardlab("score", "--model", model, *args) == 0
        scored[precision] = pd.read_json(output, lines=True)
    for side in ("chosen_reward", "rejected_reward"):
        full, half = scored["fp32"][side].to_numpy(), scored["bf16"][side].to_numpy()
        assert abs(full - half).max() < 0.05 * max(1.0, abs(full).max())
        assert (full != half).any()


@pytest.mark.parametrize(
    ("suffix", "content", "line", "problem"),
    [
        (
            ".jsonl",
            '{"prompt": "p", "response": "a"}\n{"prompt": "p", "respo\n',
            2,
            "not valid JSON",
        ),
        (
            ".jsonl",
            '{"prompt": "p", "response": "a"}\n\n{"prompt": "p"}\n',
            3,
            "'response' is missing",
        ),
        (
            ".jsonl",
            '{"prompt": "p", "response": "a"}\n{"prompt": 7, "response": "a"}\n',
            2,
            "not text",
        ),
        (".csv", 'prompt,response\np,a\n"p\nstill p",b\np,c,surplus\n', 5, "more cells"),
        (".csv", "prompt,response\np,a\nq\n", 3, "'response' is missing"),
    ],
)
def test_a_malformed_line_is_named_exits_2_and_writes_nothing(
    run, tmp_path, capsys, suffix, content, line, problem
):
    source = tmp_path / f"bad{suffix}"
    source.write_text(content)
    output = tmp_path / "scored.jsonl"
    output.write_text("an earlier result\n")
    status = rewardlab(
        "score", "--model", str(run / "models/reward_model"), "--input", str(source),
        "--output", str(output),
    )  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert (
        re.search(rf"line {line}[:,] ", err) and problem in err
    )  # "line 2: …", "line 2, column 7: …"
    assert sorted(tmp_path.iterdir()) == sorted([source, output])  # no temporary file left
    assert output.read_text() == "an earlier result\n"


def test_score_names_the_columns_it_needs(run, tmp_path, capsys):
    source = tmp_path / "pairs.csv"
    source.write_text("question,good,bad\nq,a,b\n")
    status = rewardlab(
        "score", "--model", str(run / "models/reward_model"), "--input", str(source),
        "--output", str(tmp_path / "out.csv"),
    )  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "found columns question, good, bad" in err
    assert "--chosen-column" in err


def test_compare_prints_both_rewards_and_the_winner(run, capsys):
    evaluated = pd.read_json(run / "reports/scores.jsonl", lines=True)
    first = json.loads((run / "data/prepared/test.jsonl").read_text().splitlines()[0])
    status = rewardlab(
        "compare", "--model", str(run / "models/reward_model"), "--prompt", first["prompt"],
        first["chosen"], first["rejected"],
    )  # fmt: skip
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    reward_a, reward_b = (float(line.split(":")[1]) for line in lines[:2])
    assert reward_a == pytest.approx(evaluated["chosen_reward"][0], abs=1e-4)
    assert reward_b == pytest.approx(evaluated["rejected_reward"][0], abs=1e-4)
    winner = "A" if reward_a > reward_b else "B"
    assert lines[2].startswith(f"{winner} wins by ")


def test_compare_calls_equal_rewards_a_tie():
    assert verdict(0.3, 0.3).startswith("tie")
    assert verdict(1.0, 0.0) == "A wins by 1.0000 (P(A preferred) = 0.731)"
    assert verdict(0.0, 1.0) == "B wins by 1.0000 (P(B preferred) = 0.731)"


def test_csv_rows_are_read_with_the_line_they_end_on(tmp_path):
    source = tmp_path / "rows.csv"
    with source.open("w", newline="") as handle:
        csv.writer(handle).writerows([["prompt", "response"], ["p", "two\nlines"], ["q", "a"]])
    rows, lines = read_rows(source)
    assert rows[0]["response"] == "two\nlines"
    assert lines == [3, 4]


@pytest.mark.parametrize("model_name", ["builtin:minilm", "tiny_gpt2"])
def test_texts_are_encoded_exactly_as_featurize_encoded_them_for_training(model_name, request):
    # A budget of 12 tokens truncates every pair, so BERT's closing [SEP] handling is exercised.
    if model_name == "tiny_gpt2":
        model_name = str(request.getfixturevalue("tiny_gpt2"))
    tokenizer = load_tokenizer(ModelParams(name_or_path=model_name))
    template = FeaturizeParams().template
    pairs = toy_pairs(4)
    split = Dataset.from_list([format_pair(pair, template) for pair in pairs])
    features, stats = tokenize_split(split, tokenizer, FeaturizeParams(max_length=12))
    assert stats["pairs_truncated"] == 4
    metadata = {"template": template, "max_length": 12}
    prompts = [pair["prompt"] for pair in pairs]
    for side in ("chosen", "rejected"):
        encoded = encode_responses(tokenizer, metadata, prompts, [pair[side] for pair in pairs])
        assert encoded == features[f"{side}_ids"]
