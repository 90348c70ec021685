"""`rewardlab bench` on a tiny GPT-2: it runs in seconds and writes a well-formed table and JSON.

Speed is never asserted here: timings on a shared machine prove nothing. What is checked is the
harness: every recipe and lever gets a row with positive rates, and the two scoring paths agree;
and where bf16 is not native, no bf16 work is done at all. Roofs use small matmuls: an emulated
bf16 2048³ takes 17 s.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import GPT2Config, GPT2ForSequenceClassification
from trl.trainer.reward_trainer import DataCollatorForPreference

from rewardlab.core import devices
from rewardlab.core.errors import UserError
from rewardlab.core.params import ModelParams, Params
from rewardlab.model.loading import load_tokenizer
from rewardlab.tools import bench, bench_scoring, bench_training, bench_workloads
from rewardlab.tools.throughput import window_rates


def tiny_gpt2(tokenizer):
    # The MiniLM tokenizer's ids must fit the vocabulary; 128 positions keep the tutorial's
    # pad-to-max recipe cheap.
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2ForSequenceClassification(config), ["score"]


@pytest.fixture
def tiny_bench(monkeypatch):
    monkeypatch.setitem(bench.MODELS, "gpt2", tiny_gpt2)
    monkeypatch.setattr(bench, "PEAK_SIZES", (64, 128))
    # Transcripts cut to the tiny GPT-2's 128 positions.
    monkeypatch.setattr(bench_workloads, "MULTI_TURN_MAX_LENGTH", 128)


class Bf16Ops(TorchDispatchMode):
    """Record every aten op that reads or writes a bf16 tensor (autocast included: its casts
    and the matmuls after them are ops on bf16 tensors at this level)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [
            t
            for t in torch.utils._pytree.tree_leaves((args, kwargs, out))
            if isinstance(t, torch.Tensor)
        ]
        if any(t.dtype == torch.bfloat16 for t in tensors):
            self.ops.add(str(func))
        return out


def test_bench_writes_a_row_per_recipe_and_lever_with_positive_rates(
    tmp_path, monkeypatch, capsys, tiny_bench
):
    monkeypatch.setattr(devices, "native_bf16", lambda: True)  # every row, bf16 ones included
    monkeypatch.setattr(bench, "RANDOM_WEIGHTS", set())  # measure its accuracy all the same
    output = tmp_path / "bench.json"
    bench.main(
        [
            *("--pairs", "6", "--eval-pairs", "4", "--repeats", "2", "--warmup", "0"),
            *("--max-seconds", "0", "--models", "gpt2", "--levers", "--output", str(output)),
        ]
    )
    result = json.loads(output.read_text())
    entry = result["models"]["gpt2"]
    # bf16 on a CPU: train.attention auto trains eager, so SDPA is the lever.
    always = [lever for lever in bench.ALWAYS if lever != "eager attention"]
    levers = [f"rewardlab + {lever}" for lever in [*always, *bench.TRAIN_LEVERS]]
    assert list(entry["train"]) == [*bench.RECIPES, *levers]
    # Prefix sharing on for GPT-2 (train.prefix_sharing auto), off in its two-sequence row; the
    # same pairs, so the same real tokens counted, while fewer positions were computed.
    shared, two = entry["train"]["rewardlab"], entry["train"]["rewardlab + prefix sharing off"]
    assert shared["attention"] == "eager" and two["attention"] == "eager"
    assert entry["train"]["rewardlab + sdpa attention"]["attention"] == "sdpa"
    assert entry["train"]["trl"]["attention"] == "sdpa"  # plain TRL keeps the model's default
    assert shared["prefix_sharing"]["shared"] >= 1 and shared["prefix_sharing"]["tokens_saved"] > 0
    assert "prefix_sharing" not in two
    # Packing on for GPT-2 (train.packing auto), off in its packing-off row (one pair a row).
    grouped = entry["train"]["rewardlab + packing off"]["prefix_sharing"]
    assert shared["prefix_sharing"]["packing"] and not grouped["packing"]
    assert grouped["rows"] == grouped["pairs"] >= shared["prefix_sharing"]["rows"]
    assert list(entry["score"]) == [
        "tutorial",
        "rewardlab + LoRA unmerged",
        "rewardlab",
        "rewardlab --precision bf16",
        *(f"rewardlab + {lever}" for lever in bench_scoring.SCORE_LEVERS),
    ]
    for stats in [*entry["train"].values(), *entry["score"].values()]:
        assert stats["tokens_per_s"] > 0 and stats["pairs_per_s"] > 0 and stats["mfu"] > 0
    for stats in entry["train"].values():
        assert 0 <= stats["accuracy"] <= 1 and 1 <= stats["pairs_trained"] <= 6
        assert stats["accuracy_after_pairs"] == 6  # every recipe judged after the same pairs
    # --max-seconds 0 stops every recipe after one micro-batch: the tutorial's (batch 3) has
    # trained 3 of the 6 pairs and must be finished untimed for its accuracy.
    assert entry["train"]["tutorial"]["pairs_trained"] == 3
    assert "accuracy_from" in entry["train"]["tutorial"]
    assert result["peak_flops"]["fp32"] > 0 and entry["non_embedding_params"] > 0
    assert entry["score"]["rewardlab --precision bf16"]["precision"] == "bf16"
    assert entry["train"]["trl"]["precision"] == "bf16"  # TRL's default, where it is native
    ceiling = entry["speedup"]["score_ceiling"]
    assert ceiling["fp32"] == pytest.approx(1 / entry["score"]["tutorial"]["mfu"])
    # The tutorial's loop (LoRA unmerged, one text at a time) and the batched paths score the
    # same trained model: in fp32 they must agree, value for value and winner for winner.
    for name in ("rewardlab", "rewardlab + LoRA unmerged", "rewardlab + no token budget"):
        assert entry["score"][name]["max_reward_difference"] < 1e-4
        assert entry["score"][name]["winner_agreement"] == 1.0

    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if line.startswith("| model"))
    columns = len(header.split("|"))
    rows = [line for line in table.splitlines() if line.startswith("| gpt2 |")]
    multi_turn = entry["multi_turn"]["train"]
    decoder_rows = [f"rewardlab + {lever}" for lever in bench.DECODER_ONLY]
    # The tiny transcripts are cut to 128 tokens a side: short enough for eager (auto).
    attention_row = "rewardlab + sdpa attention"
    assert list(multi_turn) == [*bench.MULTI_TURN_RECIPES, *decoder_rows, attention_row]
    speedup = entry["multi_turn"]["speedup"]
    assert set(speedup) == {
        "train_vs_trl",
        "prefix_sharing_vs_two_sequence",
        "packing_vs_grouping",
        "eager_attention_vs_sdpa",
    }
    # + the untrained row
    assert len(rows) == len(entry["train"]) + len(entry["score"]) + 1 + len(multi_turn)
    assert all(len(row.split("|")) == columns for row in rows)
    assert "| gpt2 | builtin | train | tutorial |" in table
    assert "| gpt2 | builtin | score | rewardlab |" in table
    assert "| gpt2 | multi-turn | train | rewardlab |" in table
    assert "finished untimed" in table and "no scorer here can beat it" in table
    assert "not native" not in table


def test_without_native_bf16_the_bench_schedules_no_bf16_work(tmp_path, monkeypatch, tiny_bench):
    monkeypatch.setattr(devices, "native_bf16", lambda: False)
    output = tmp_path / "bench.json"
    with Bf16Ops() as spy:
        bench.main(
            [
                *("--pairs", "4", "--eval-pairs", "2", "--repeats", "1", "--warmup", "0"),
                *("--models", "gpt2", "--levers", "--output", str(output)),
            ]
        )
    assert spy.ops == set()
    result = json.loads(output.read_text())
    entry = result["models"]["gpt2"]
    assert set(result["peak_flops"]) == {"fp32"}
    assert "rewardlab + fp32" not in entry["train"]  # auto is fp32 here already
    # fp32: train.attention auto keeps SDPA, so eager is the lever.
    assert entry["train"]["rewardlab"]["attention"] == "sdpa"
    assert entry["train"]["rewardlab + eager attention"]["attention"] == "eager"
    assert "rewardlab + sdpa attention" not in entry["train"]
    assert "rewardlab --precision bf16" not in entry["score"]
    rows = [*entry["train"].values(), *entry["score"].values()]
    assert {stats["precision"] for stats in rows} == {"fp32"}  # plain TRL's included
    table = bench.table(result)
    assert "| gpt2 | builtin | train | trl | fp32 |" in table
    assert "bf16: not native on this CPU: no bf16 rows; plain TRL runs in fp32" in table


def test_the_spy_sees_bf16_autocast_work():
    # The check above is only as good as its spy: autocast must show up in it.
    linear = torch.nn.Linear(4, 4)
    with Bf16Ops() as spy, torch.autocast("cpu", dtype=torch.bfloat16):
        linear(torch.ones(2, 4))
    assert spy.ops


@pytest.mark.parametrize("model_name", ["minilm", "gpt2"])
def test_padding_to_the_maximum_changes_the_speed_not_the_rewards(model_name, tiny_bench):
    # Why the tutorial recipe's accuracy may come from a run without its padding: pads are
    # masked out, so a batch padded to the model's maximum gets the same rewards.
    tokenizer = load_tokenizer(ModelParams())
    model, _ = bench.MODELS[model_name](tokenizer)
    model.eval()
    pairs = [
        {"chosen_ids": tokenizer(c)["input_ids"], "rejected_ids": tokenizer(r)["input_ids"]}
        for c, r in [("a short answer", "no"), ("a somewhat longer and better answer", "meh")]
    ]
    maximum = model.config.max_position_embeddings
    longest = max(len(ids) for pair in pairs for ids in pair.values())
    rewards = []
    for pad_to in (None, maximum):
        batch = DataCollatorForPreference(tokenizer.pad_token_id, pad_to_multiple_of=pad_to)(pairs)
        assert batch["input_ids"].shape[1] == (pad_to or longest)
        with torch.no_grad():
            rewards.append(model(**batch).logits.squeeze(-1))
    torch.testing.assert_close(rewards[0], rewards[1], rtol=0, atol=1e-5)


def test_the_tutorial_recipe_pads_every_sequence_to_the_models_maximum(tmp_path):
    args = bench_training.recipe_args("tutorial", Params(), 1024, str(tmp_path))
    assert args.pad_to_multiple_of == 1024
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (3, 8)
    assert (
        bench_training.recipe_args("trl", Params(), 1024, str(tmp_path)).pad_to_multiple_of is None
    )


def test_windows_are_dealt_round_robin_after_the_warm_up():
    # Units slow down steadily (longest batches first, say): round-robin windows each see a
    # fair share of slow and fast units, so they differ only by noise.
    seconds = [100.0, 1.0, 2.0, 3.0, 4.0]  # the first one is the warm-up
    rates = window_rates(seconds, [10] * 5, [1] * 5, warmup=1, repeats=2)
    assert rates["timed_units"] == 4
    assert rates["window_tokens_per_s"] == pytest.approx([20 / 4, 20 / 6])
    assert rates["pairs_per_s"] == pytest.approx((2 / 4 + 2 / 6) / 2)


def test_unknown_models_are_refused_before_any_work():
    with pytest.raises(UserError, match="unknown model"):
        bench.parse_args(["--models", "minilm,llama"])
