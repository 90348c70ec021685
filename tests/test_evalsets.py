"""Evaluation sets: per-category figures, RewardBench's sections, the check set, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO_ROOT
from hub_fixtures import hh_rlhf_row, ultrafeedback_row, write_hh_rlhf, write_ultrafeedback
from rewardlab.core.params import EvalSetParams, EvaluateParams, ModelParams
from rewardlab.data.cleaning import choose_format, clean_pairs
from rewardlab.evaluation.evalsets import load_evaluation_sets, read_rows
from rewardlab.evaluation.summary import summarize, summarize_set
from rewardlab.model.loading import load_tokenizer
from rewardlab.stages.fingerprint import fingerprint


def scored(rows: list[tuple]) -> pd.DataFrame:
    """Per-pair frame from (category, chosen, rejected, untrained chosen, untrained rejected,
    chosen chars, rejected chars) tuples, as evaluate builds it from scored pairs."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "category",
            "chosen_reward",
            "rejected_reward",
            "untrained_chosen_reward",
            "untrained_rejected_reward",
            "chosen_chars",
            "rejected_chars",
        ],
    )
    frame["chosen_tokens"] = frame["chosen_chars"] // 4
    frame["rejected_tokens"] = frame["rejected_chars"] // 4
    return frame


def test_each_category_gets_its_own_rates_and_unlabelled_pairs_only_count_overall():
    frame = scored(
        [
            ("vague", 1.0, 0.0, 0.0, 1.0, 10, 90),  # won; untrained lost; longer (rejected) wins
            ("vague", 0.0, 1.0, 1.0, 0.0, 10, 90),  # lost; untrained won
            ("vague", 2.0, 0.0, 0.0, 1.0, 50, 40),  # won; chosen longer
            ("wrong_fact", 0.5, 0.5, 0.0, 1.0, 30, 30),  # a tie is a loss; equal lengths too
            (None, 3.0, 0.0, 1.0, 0.0, 20, 10),  # no category: overall only
        ]
    )
    metrics = summarize(frame, EvaluateParams())
    assert metrics["pairs"] == 5 and metrics["win_rate"] == 0.6
    groups = metrics["by_category"]
    assert list(groups) == ["vague", "wrong_fact"]
    assert groups["vague"]["pairs"] == 3
    assert groups["vague"]["win_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert groups["vague"]["untrained_win_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert groups["vague"]["longer_wins_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert groups["wrong_fact"] == {
        "pairs": 1,
        "win_rate": 0.0,
        "win_rate_ci95": {"low": 0.0, "high": 0.0},
        "untrained_win_rate": 0.0,
        "longer_wins_rate": 0.0,
    }
    low, high = groups["vague"]["win_rate_ci95"].values()
    assert 0.0 <= low < 2 / 3 < high <= 1.0
    assert "sections" not in metrics  # these categories are not RewardBench subsets


def test_a_set_without_categories_has_no_per_category_block():
    frame = scored([(None, 1.0, 0.0, 0.0, 0.0, 5, 6)]).drop(columns="category")
    assert "by_category" not in summarize_set(frame, EvaluateParams())


def test_rewardbench_sections_weight_subset_accuracy_by_its_example_counts():
    wins_and_losses = {  # subset: (pairs won, pairs lost)
        "alpacaeval-easy": (2, 0),  # Chat, counts 100
        "mt-bench-easy": (1, 1),  # Chat, 28
        "mt-bench-hard": (0, 1),  # Chat Hard, 37
        "llmbar-natural": (2, 0),  # Chat Hard, 100
        "xstest-should-respond": (1, 1),  # Safety, 250
        "donotanswer": (1, 0),  # Safety, 136
        "math-prm": (0, 2),  # Reasoning, 984 (upweighted)
        "hep-python": (1, 0),  # Reasoning, 164
    }
    rows = [
        (subset, 1.0 if won else 0.0, 0.0, 0.0, 0.0, 10, 10)
        for subset, (n_won, n_lost) in wins_and_losses.items()
        for won in [True] * n_won + [False] * n_lost
    ]
    metrics = summarize_set(scored(rows), EvaluateParams())
    assert metrics["by_category"]["mt-bench-easy"]["win_rate"] == 0.5
    # Worked by hand from rewardbench 0.1.4's EXAMPLE_COUNTS and SUBSET_MAPPING:
    assert metrics["sections"] == pytest.approx(
        {
            "Chat": (1.0 * 100 + 0.5 * 28) / (100 + 28),  # 0.890625
            "Chat Hard": (0.0 * 37 + 1.0 * 100) / (37 + 100),  # 0.729927
            "Safety": (0.5 * 250 + 1.0 * 136) / (250 + 136),  # 0.676166
            "Reasoning": (0.0 * 984 + 1.0 * 164) / (984 + 164),  # 1/7
        },
        abs=1e-6,
    )


def test_the_check_set_loads_and_every_row_has_a_category():
    path = REPO_ROOT / "data/eval/everyday.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) >= 150
    # Through the evaluation-set loader and prepare's cleaning: nothing dropped, category kept.
    spec = EvaluateParams().sets["everyday"]
    assert spec.source == "data/eval/everyday.jsonl"  # wired into the default evaluate.sets
    pairs, data = read_rows(spec.model_copy(update={"source": str(path)}), "x")
    cleaned = clean_pairs(pairs, choose_format(pairs, "auto"), data)
    assert len(cleaned.pairs) == len(rows), cleaned.dropped
    assert all(isinstance(p["category"], str) and p["category"].strip() for p in cleaned.pairs)


def metadata_for(model: Path, rendering: dict | None) -> dict:
    """The parts of a trained model's rewardlab.json that rendering reads."""
    template = "\n\nHuman: {prompt}\n\nAssistant: {response}"
    return {
        "model": {"name_or_path": str(model)},
        "template": template,
        "rendering": rendering,
        "max_length": 64,
    }


STANDARD = {"format": "standard", "prompt": "explicit", "chat_template": None}


def test_each_layout_is_rendered_as_featurize_renders_it_for_the_trained_model(
    tmp_path, tiny_gpt2, tiny_gpt2_chat
):
    write_hh_rlhf(tmp_path / "hh", train=2, test=3)
    write_ultrafeedback(tmp_path / "uf", train=2, test=3)
    hh = EvalSetParams(source=str(tmp_path / "hh"), split="test")
    chats = EvalSetParams(source=str(tmp_path / "uf"), split="test_prefs")
    # A model trained on plain texts, no chat template: a transcript stays as it is, a
    # conversation goes through the role template.
    sets = load_evaluation_sets({"hh": hh, "chats": chats}, metadata_for(tiny_gpt2, STANDARD), True)
    assert sets["hh"][0]["chosen_text"] == hh_rlhf_row(2 + 0)["chosen"]
    row = ultrafeedback_row(2 + 0)
    assert sets["chats"][0]["chosen_text"] == (
        f"\n\nHuman: {row['prompt']}\n\nAssistant: {row['chosen'][1]['content']}"
    )
    # A tokenizer with its own chat template renders the conversation with it, as featurize does.
    chat = load_evaluation_sets({"chats": chats}, metadata_for(tiny_gpt2_chat, STANDARD), True)
    tokenizer = load_tokenizer(ModelParams(name_or_path=str(tiny_gpt2_chat)))
    assert chat["chats"][0]["chosen_text"] == tokenizer.apply_chat_template(
        row["chosen"], tokenize=False
    )
    assert (
        chat["chats"][0]["chosen_ids"]
        == tokenizer(chat["chats"][0]["chosen_text"], add_special_tokens=False)["input_ids"][:64]
    )


def test_a_set_name_cannot_hide_a_held_out_split(tiny_gpt2):
    from rewardlab.core.errors import UserError

    spec = EvalSetParams(source="data/eval/everyday.jsonl")
    with pytest.raises(UserError, match=r"evaluate\.sets\.test_seen_topics: .* already the name"):
        load_evaluation_sets({"test_seen_topics": spec}, {}, True, reserved=["test_seen_topics"])


def test_a_fingerprint_changes_with_one_edited_row_and_ignores_hidden_files(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n')
    before = fingerprint(str(data))
    data.write_text('{"prompt": "a", "chosen": "b", "rejected": "C"}\n')
    assert fingerprint(str(data))["sha256"] != before["sha256"]

    folder = tmp_path / "hub-layout"
    (folder / "data").mkdir(parents=True)
    (folder / "data/train-00000-of-00001.parquet").write_bytes(b"rows")
    first = fingerprint(str(folder))
    (folder / ".git").mkdir()
    (folder / ".git/index").write_bytes(b"history")
    assert fingerprint(str(folder)) == first
    assert list(first["files"]) == ["data/train-00000-of-00001.parquet"]
    (folder / "data/train-00000-of-00001.parquet").write_bytes(b"rows, one edited")
    assert fingerprint(str(folder)) != first

    assert fingerprint("allenai/reward-bench", "abc123") == {
        "source": "allenai/reward-bench",
        "kind": "hub",
        "revision": "abc123",
    }


def test_a_bad_evaluation_set_param_names_the_set_and_the_key(tmp_path):
    from rewardlab.core.errors import UserError
    from rewardlab.core.params import load_params

    path = tmp_path / "params.yaml"
    path.write_text(
        "evaluate:\n  sets:\n    mine: {sourse: x.jsonl}\n    bad name: {source: y}\n"
        "    other: {source: z, split: 3}\n"
    )
    with pytest.raises(UserError) as err:
        load_params(path)
    lines = str(err.value).splitlines()[1:]
    assert [line.strip() for line in lines] == [
        "evaluate.sets.mine.source: missing; expected a string",
        "evaluate.sets.mine.sourse: unknown key (value 'x.jsonl'); did you mean 'source'? "
        "allowed here: source, split, revision, format, columns",
        "evaluate.sets.bad name: a name may hold only letters, digits, _ - and .",
        "evaluate.sets.other.split = 3: expected a string",
    ]
    path.write_text("evaluate:\n  sets: null\n")
    assert load_params(path).evaluate.sets == {}


def test_an_edited_hub_layout_folder_is_read_as_it_is_now_not_from_a_stale_cache(tmp_path):
    from rewardlab.core.params import DataParams
    from rewardlab.data.sources.loading import load_pairs

    # Same folder name, different contents: datasets' own cache would mix them up.
    write_hh_rlhf(tmp_path / "first" / "hh", train=2, test=3)
    write_hh_rlhf(tmp_path / "second" / "hh", train=2, test=5)
    for where, pairs in (("first", 3), ("second", 5)):
        data = DataParams(source=str(tmp_path / where / "hh"), split="test")
        assert len(load_pairs(data)) == pairs


def test_every_extra_held_out_split_is_reported_under_sets(tiny_gpt2, tmp_path_factory, tmp_path):
    # A copy of the finished tiny run whose features hold the test split twice, the second
    # time under another name (as the generator's test_seen_topics): same pairs, same figures.
    import contextlib
    import shutil

    import yaml
    from datasets import load_from_disk

    from rewardlab.stages import evaluate
    from tiny_run import finished_run

    run = finished_run(tmp_path_factory, tiny_gpt2)
    for name in ("data/features", "models/reward_model", "params.yaml"):
        copy = shutil.copytree if (run / name).is_dir() else shutil.copy
        copy(run / name, tmp_path / name)
    features = load_from_disk(str(run / "data/features"))
    features["test_seen_topics"] = features["test"]
    shutil.rmtree(tmp_path / "data/features")
    features.save_to_disk(str(tmp_path / "data/features"))
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["evaluate"]["sets"] = {}  # only the extra split
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with contextlib.chdir(tmp_path):
        evaluate.main(["--params", "params.yaml"])
    metrics = json.loads((tmp_path / "reports/metrics.json").read_text())
    extra = metrics["sets"]["test_seen_topics"]
    for key in ("pairs", "win_rate", "win_rate_ci95", "untrained_win_rate", "longer_wins_rate"):
        assert extra[key] == metrics[key], key
    assert list(metrics["sets"]) == ["test_seen_topics"]
