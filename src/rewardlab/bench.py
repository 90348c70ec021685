"""``rewardlab bench``: training and scoring throughput against the tutorial's recipe and plain TRL.

One process, the same builtin pairs and the same models (``builtin:minilm``, and a GPT-2 built from
``GPT2Config()`` with random weights, standing in for the tutorial's ``gpt2``, which needs the Hub).
Both models read the MiniLM tokenizer's ids: every id fits GPT-2's vocabulary, WordPiece and GPT-2
BPE cut English into similar numbers of tokens, and for speed only the lengths matter.

Training runs TRL's ``RewardTrainer`` three ways, each on a fresh copy of the model with the same
LoRA (r 8, alpha 32, dropout 0.1), for one epoch over the same ``--pairs`` pairs:

* ``tutorial``: every sequence padded to the model's maximum (GPT-2 1024, MiniLM 512), batch 3,
  gradient accumulation 8, lr 1.41e-5, dropout on, no gradient checkpointing (its Trainer's
  defaults); random order;
* ``trl``: ``RewardConfig`` defaults (batch 8, lr 1e-4, gradient checkpointing, dropout off,
  random order, padding per batch), with bf16 off because a CPU cannot run it;
* ``rewardlab``: this repo's params (``train.reward_config``), as ``rewardlab train`` runs them.

A callback stamps the end of every micro-batch with the trainer's count of non-pad tokens, so
collation and the optimizer step are inside the time and padding is not counted as work. The
first ``--warmup`` micro-batches are dropped; the rest are dealt round-robin into ``--repeats``
windows (round-robin because length-grouped batches come longest first), and the table gives the
median window. A recipe stops early once it has a micro-batch per window and ``--max-seconds``
have passed; its accuracy is then after fewer pairs, which the table says.

Scoring compares the tutorial's loop (one text per forward, tokenized on the spot, ``no_grad``,
LoRA unmerged) with ``rewardlab score``'s ``score_responses`` (length-sorted batches,
``inference_mode``, LoRA merged), on the held-out pairs with the model ``rewardlab`` trained.

MFU = model FLOP/s over the best fp32 FLOP/s of square matmuls measured at the start. Model FLOPs
count real tokens only and N = non-embedding parameters: a LoRA step on a frozen base costs 2N per
token forward and 2N backward (activation gradients; LoRA's own weight gradients are negligible),
so 4N for training, 2N for scoring. Recomputation by gradient checkpointing is not useful work.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, disable_progress_bars
from transformers import (
    GPT2Config,
    GPT2ForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerCallback,
    set_seed,
)
from transformers.utils import logging as hf_logging
from trl import RewardConfig, RewardTrainer

from rewardlab.builtin_data import generate_pairs
from rewardlab.errors import UserError, run_main
from rewardlab.featurize import tokenize_split
from rewardlab.modeling import disable_dropout, load_base_model, load_tokenizer, lora_config
from rewardlab.params import DEFAULT_PARAMS, ModelParams, Params, load_params
from rewardlab.prepare import format_pair
from rewardlab.scoring import score_responses, score_token_ids
from rewardlab.train import reward_config

RECIPES = ("tutorial", "trl", "rewardlab")
SEED = 42


def _minilm(tokenizer: PreTrainedTokenizerBase) -> tuple[PreTrainedModel, list[str]]:
    return load_base_model(ModelParams(), tokenizer)


def _gpt2(tokenizer: PreTrainedTokenizerBase) -> tuple[PreTrainedModel, list[str]]:
    set_seed(SEED)
    config = GPT2Config(num_labels=1, pad_token_id=tokenizer.pad_token_id)
    return GPT2ForSequenceClassification(config), ["score"]


# name -> (base model, modules the base had to initialise); tests swap in a tiny GPT-2.
MODELS: dict[str, Callable[[PreTrainedTokenizerBase], tuple[PreTrainedModel, list[str]]]] = {
    "minilm": _minilm,
    "gpt2": _gpt2,
}


def peak_matmul_flops(dtype: torch.dtype = torch.float32, sizes: Sequence[int] = (512, 1024, 2048)):
    """Best FLOP/s of square matmuls: the roof MFU is measured against, on this machine, now."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up: thread pool, packing buffers
        for _ in range(3):
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


def non_embedding_params(model: PreTrainedModel) -> int:
    """N of the MFU formula: embedding tables are looked up, not multiplied."""
    tables = {
        id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    }
    return sum(p.numel() for p in model.parameters() if id(p) not in tables)


def window_rates(
    seconds: list[float], tokens: list[int], pairs: list[int], warmup: int, repeats: int
):
    """Median rates over ``repeats`` round-robin windows of the units after the warm-up."""
    units = list(zip(seconds, tokens, pairs, strict=True))[warmup:]
    if not units:
        raise UserError("bench: nothing left to time after the warm-up; raise --pairs.")
    windows = [units[w::repeats] for w in range(min(repeats, len(units)))]
    rates = [
        (sum(u[1] for u in w) / sum(u[0] for u in w), sum(u[2] for u in w) / sum(u[0] for u in w))
        for w in windows
    ]
    return {
        "tokens_per_s": statistics.median(r[0] for r in rates),
        "pairs_per_s": statistics.median(r[1] for r in rates),
        "window_tokens_per_s": [r[0] for r in rates],
        "timed_units": len(units),
        "timed_seconds": sum(u[0] for u in units),
    }


class MicroBatchClock(TrainerCallback):
    """Stamp each micro-batch's end with the trainer's running count of non-pad tokens."""

    def __init__(self, warmup: int, repeats: int, max_seconds: float) -> None:
        self.warmup, self.repeats, self.max_seconds = warmup, repeats, max_seconds
        self.stamps: list[tuple[float, int]] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.stamps = [(time.perf_counter(), state.num_input_tokens_seen)]

    def on_substep_end(self, args, state, control, **kwargs):
        self.stamps.append((time.perf_counter(), state.num_input_tokens_seen))
        timed = len(self.stamps) - 1 - self.warmup
        if timed >= self.repeats and self.stamps[-1][0] - self.stamps[0][0] > self.max_seconds:
            control.should_training_stop = True

    on_step_end = on_substep_end

    def rates(self, batch_size: int, pool: int, warmup: int) -> dict[str, Any]:
        (times, seen) = zip(*self.stamps, strict=True)
        n = len(times) - 1
        return {
            **window_rates(
                [b - a for a, b in itertools.pairwise(times)],
                [b - a for a, b in itertools.pairwise(seen)],
                [min(batch_size, pool - i * batch_size) for i in range(n)],
                warmup,
                self.repeats,
            ),
            "pairs_trained": min(n * batch_size, pool),
        }


def recipe_args(recipe: str, params: Params, max_length: int, out: str) -> RewardConfig:
    """The ``RewardConfig`` of each recipe; anything not named keeps its library default."""
    if recipe == "tutorial":
        args = RewardConfig(
            out,
            per_device_train_batch_size=3,
            gradient_accumulation_steps=8,
            learning_rate=1.41e-5,
            pad_to_multiple_of=max_length,  # = the tutorial's padding="max_length" at tokenization
            max_length=max_length,
            gradient_checkpointing=False,  # TrainingArguments' default, which the tutorial used
            disable_dropout=False,  # the trainer the tutorial used did not touch dropout
            bf16=False,
        )
    elif recipe == "trl":
        args = RewardConfig(out, bf16=False)  # bf16=True by default, which fails on a CPU
    else:
        args = reward_config(params, Path(out))
    args.num_train_epochs, args.max_steps = 1, -1
    args.set_evaluate("no")
    args.set_save("no")
    args.include_num_input_tokens_seen = "non_padding"
    args.disable_tqdm = True
    return args


def accuracy(model: PreTrainedModel, test: Dataset, pad_token_id: int) -> float:
    """Share of held-out pairs where reward(chosen) > reward(rejected); ties count as losses."""
    model.eval()
    rewards = score_token_ids(model, [*test["chosen_ids"], *test["rejected_ids"]], pad_token_id)
    n = len(test)
    return sum(c > r for c, r in zip(rewards[:n], rewards[n:], strict=True)) / n


def train_recipe(
    recipe, base, fresh, data, tokenizer, params, opts, overrides: dict | None = None
) -> tuple[dict, PreTrainedModel]:
    """Train one recipe on a fresh copy of ``base``; return its rates and the trained model.

    ``overrides`` are ``RewardConfig`` fields set on top of the recipe: the levers.
    """
    model = copy.deepcopy(base)
    if recipe == "rewardlab" and params.train.disable_base_dropout:
        disable_dropout(model)  # as train.py does: base dropout off, LoRA dropout kept
    clock = MicroBatchClock(opts.warmup, opts.repeats, opts.max_seconds)
    with tempfile.TemporaryDirectory() as out:
        args = recipe_args(recipe, params, model.config.max_position_embeddings, out)
        for key, value in (overrides or {}).items():
            setattr(args, key, value)
        set_seed(SEED)  # same LoRA initialisation for every recipe
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=data["train"],
            processing_class=tokenizer,
            peft_config=lora_config(params.lora, model, fresh),
            callbacks=[clock],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    stats = clock.rates(args.per_device_train_batch_size, len(data["train"]), opts.warmup)
    stats["accuracy"] = accuracy(trainer.model, data["test"], tokenizer.pad_token_id)
    return stats, trainer.model


def score_tutorial_loop(model, tokenizer, rows, pair_tokens, opts) -> tuple[dict, list[float]]:
    """The tutorial's ``predict_and_get_logits`` over both sides of each pair, timed per pair."""
    model.eval()
    seconds, rewards, start = [], [], time.perf_counter()
    for row in rows:
        tick = time.perf_counter()
        for text in (row["chosen_text"], row["rejected_text"]):
            inputs = tokenizer(
                text, return_tensors="pt", padding=True, truncation=True, max_length=512
            )
            with torch.no_grad():
                rewards.append(model(**inputs).logits.squeeze().item())
        seconds.append(time.perf_counter() - tick)
        timed = len(seconds) - opts.warmup
        if timed >= opts.repeats and time.perf_counter() - start > opts.max_seconds:
            break
    n = len(seconds)
    return window_rates(seconds, pair_tokens[:n], [1] * n, opts.warmup, opts.repeats), rewards


def score_batched(model, tokenizer, params, rows, pair_tokens, opts) -> tuple[dict, list[float]]:
    """``rewardlab score``: every side in one ``score_responses`` call; one pass is one unit."""
    metadata = {"template": params.prepare.template, "max_length": params.featurize.max_length}
    prompts = [row["prompt"] for row in rows] * 2
    responses = [row["chosen"] for row in rows] + [row["rejected"] for row in rows]
    warmup, seconds = min(opts.warmup, 1), []
    for _ in range(warmup + opts.repeats):
        tick = time.perf_counter()
        rewards = score_responses(
            model, tokenizer, metadata, prompts, responses, params.evaluate.batch_size
        )
        seconds.append(time.perf_counter() - tick)
    n = len(seconds)
    stats = window_rates(seconds, [sum(pair_tokens)] * n, [len(rows)] * n, warmup, opts.repeats)
    # Same order as the tutorial loop's: chosen, rejected, chosen, ...
    return stats, [
        r for pair in zip(rewards[: len(rows)], rewards[len(rows) :], strict=True) for r in pair
    ]


def builtin_data(tokenizer, params: Params, pairs: int, eval_pairs: int) -> dict[str, Any]:
    """Builtin pairs, rendered and tokenized exactly as prepare and featurize do."""
    template = params.prepare.template
    rows = [format_pair(row, template) for row in generate_pairs(pairs + eval_pairs, seed=0)]
    start = time.perf_counter()
    features, stats = tokenize_split(Dataset.from_list(rows), tokenizer, params.featurize)
    seconds = time.perf_counter() - start
    features = features.select_columns(["chosen_ids", "rejected_ids", "length"])
    return {
        "train": features.select(range(pairs)),
        "test": features.select(range(pairs, pairs + eval_pairs)),
        "test_rows": rows[pairs:],
        "tokenize_pairs_per_s": len(rows) / seconds,
        "tokens": stats["chosen_tokens"],
    }


def bench_model(name: str, tokenizer, data: dict, params: Params, opts, peak: float) -> dict:
    """Train the three recipes, then score with the model ``rewardlab`` trained, both ways."""
    base, fresh = MODELS[name](tokenizer)
    n = non_embedding_params(base)
    entry: dict[str, Any] = {
        "non_embedding_params": n,
        "max_length": base.config.max_position_embeddings,
        "untrained_accuracy": accuracy(base, data["test"], tokenizer.pad_token_id),
        "train": {},
    }
    for recipe in RECIPES:
        stats, model = train_recipe(recipe, base, fresh, data, tokenizer, params, opts)
        entry["train"][recipe] = {**stats, "mfu": 4 * n * stats["tokens_per_s"] / peak}
    test = data["test"]
    pair_tokens = [
        len(c) + len(r) for c, r in zip(test["chosen_ids"], test["rejected_ids"], strict=True)
    ]
    loop, loop_rewards = score_tutorial_loop(model, tokenizer, data["test_rows"], pair_tokens, opts)
    merged = model.merge_and_unload()  # what modeling.load_reward_model hands to scoring
    batched, rewards = score_batched(
        merged, tokenizer, params, data["test_rows"], pair_tokens, opts
    )
    entry["score"] = {
        "tutorial": {**loop, "mfu": 2 * n * loop["tokens_per_s"] / peak},
        "rewardlab": {**batched, "mfu": 2 * n * batched["tokens_per_s"] / peak},
        # Both score the same trained model: they must agree, or one of them is wrong.
        "max_reward_difference": max(
            abs(a - b) for a, b in zip(loop_rewards, rewards[: len(loop_rewards)], strict=True)
        ),
    }
    train, score = entry["train"], entry["score"]
    entry["speedup"] = {
        "train_vs_tutorial": train["rewardlab"]["tokens_per_s"] / train["tutorial"]["tokens_per_s"],
        "train_vs_trl": train["rewardlab"]["tokens_per_s"] / train["trl"]["tokens_per_s"],
        "score_vs_tutorial": score["rewardlab"]["pairs_per_s"] / score["tutorial"]["pairs_per_s"],
    }
    return entry


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            p: importlib.metadata.version(p) for p in ("torch", "transformers", "trl", "peft")
        },
    }


def run(opts: argparse.Namespace) -> dict[str, Any]:
    """Everything the table and the JSON say, measured in this process."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    params = load_params(opts.params) if Path(opts.params).exists() else Params()
    tokenizer = load_tokenizer(ModelParams())  # GPT-2 reads the same ids (see the docstring)
    load_start = os.getloadavg()
    data = builtin_data(tokenizer, params, opts.pairs, opts.eval_pairs)
    peak = peak_matmul_flops()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            k: getattr(opts, k)
            for k in ("pairs", "eval_pairs", "repeats", "warmup", "max_seconds", "models")
        },
        "peak_flops": {"fp32": peak, "bf16": peak_matmul_flops(torch.bfloat16)},
        "tokens_per_sequence": data["tokens"],
        "tokenize_pairs_per_s": data["tokenize_pairs_per_s"],
        "models": {
            name: bench_model(name, tokenizer, data, params, opts, peak) for name in opts.models
        },
    }
    result["load_average"] = {"start": load_start, "end": os.getloadavg()}
    return result


def table(result: dict[str, Any]) -> str:
    """A markdown table: one row per model, workload and recipe."""
    m, peak = result["machine"], result["peak_flops"]
    lines = [
        f"{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads; peak matmul "
        f"fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s; "
        f"load average {result['load_average']['start'][0]:.2f} at start, "
        f"{result['load_average']['end'][0]:.2f} at end; {result['date']}",
        "",
        "| model | workload | recipe | real tokens/s | pairs/s | x tutorial | x TRL | MFU "
        "| held-out accuracy (after pairs) |",
        "|---|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for name, entry in result["models"].items():
        train, score = entry["train"], entry["score"]
        for recipe, s in train.items():
            lines.append(
                f"| {name} | train | {recipe} | {s['tokens_per_s']:,.0f} | {s['pairs_per_s']:.2f} "
                f"| {s['tokens_per_s'] / train['tutorial']['tokens_per_s']:.1f}x "
                f"| {s['tokens_per_s'] / train['trl']['tokens_per_s']:.2f}x | {s['mfu']:.1%} "
                f"| {s['accuracy']:.3f} ({s['pairs_trained']}) |"
            )
        for recipe in ("tutorial", "rewardlab"):
            s = score[recipe]
            lines.append(
                f"| {name} | score | {recipe} | {s['tokens_per_s']:,.0f} | {s['pairs_per_s']:.1f} "
                f"| {s['pairs_per_s'] / score['tutorial']['pairs_per_s']:.1f}x | | "
                f"{s['mfu']:.1%} | |"
            )
        lines.append(
            f"| {name} | — | untrained | | | | | | {entry['untrained_accuracy']:.3f} (0) |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rewardlab bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pairs", type=int, default=128, help="training pairs per recipe")
    parser.add_argument("--eval-pairs", type=int, default=128, help="held-out pairs")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows; medians reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed micro-batches / pairs")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=90,
        help="a recipe stops early after this long (once every window has data)",
    )
    parser.add_argument("--models", default="minilm,gpt2", help=f"from {', '.join(MODELS)}")
    parser.add_argument("--params", default=str(DEFAULT_PARAMS), help="this repo's recipe")
    parser.add_argument("--output", type=Path, default=Path("reports/bench.json"))
    args = parser.parse_args(argv)
    args.models = args.models.split(",")
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or args.pairs < 1 or args.eval_pairs < 1 or args.repeats < 1 or args.warmup < 0:
        raise UserError(f"bench: bad arguments (unknown models: {unknown or 'none'}); see --help.")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    result = run(opts)
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nbench: wrote {opts.output}")


if __name__ == "__main__":
    run_main(main)
