"""``rewardlab bench``: training and scoring speed against the tutorial's recipe and plain TRL.

    rewardlab bench [--pairs 128] [--models minilm,gpt2] [--levers] [--output reports/bench.json]

One process, the same builtin pairs, the same models: ``builtin:minilm``, and a GPT-2 built from
``GPT2Config()`` with random weights standing in for the tutorial's ``gpt2`` (the Hub is not
needed). Both read the MiniLM tokenizer's ids: every id fits GPT-2's vocabulary, WordPiece and
GPT-2's BPE cut English into similar numbers of tokens, and for speed only the lengths matter.

Training: TRL's ``RewardTrainer``, one epoch over the same ``--pairs`` pairs, a fresh copy of the
model and the same LoRA (r 8, alpha 32, dropout 0.1) for each recipe:

* ``tutorial``: every sequence padded to the model's maximum (GPT-2 1024, MiniLM 512), batch 3,
  gradient accumulation 8, lr 1.41e-5, random order; dropout on and no gradient checkpointing,
  as the trainer it used did;
* ``trl``: ``RewardConfig()`` defaults (batch 8, lr 1e-4, gradient checkpointing, dropout off,
  random order, padding per batch), bf16 off because a CPU cannot run it;
* ``rewardlab``: this repo's params, through ``train.reward_config`` as ``rewardlab train`` does.

Scoring, with the model ``rewardlab`` trained: the tutorial's loop (one text per forward) against
``score_responses``, the code behind ``rewardlab score`` (length-sorted batches, inference mode,
LoRA merged as ``load_reward_model`` does). ``--levers`` adds rows for this repo's recipe with
one thing changed. How the clock works: :mod:`rewardlab.throughput`.

MFU = model FLOP/s over the best square-matmul FLOP/s measured in the same run, in the recipe's
precision. Model FLOPs count real tokens only, N = non-embedding parameters: a LoRA step on a
frozen base costs 2N per token forward and 2N backward (activation gradients; LoRA's own weight
gradients are negligible), 4N in all; scoring costs 2N. Recomputation (gradient checkpointing)
is not useful work and is not counted.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
import warnings
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
from rewardlab.scoring import score_token_ids
from rewardlab.throughput import (
    MicroBatchClock,
    non_embedding_params,
    peak_matmul_flops,
    score_batched,
    score_tutorial_loop,
    torch_threads,
)
from rewardlab.train import reward_config

RECIPES = ("tutorial", "trl", "rewardlab")
SEED = 42
# This repo's recipe with one thing changed: RewardConfig fields, or torch's thread count.
TRAIN_LEVERS: dict[str, dict[str, Any]] = {
    "random order": {"train_sampling_strategy": "random"},
    "batch 32": {"per_device_train_batch_size": 32},
    "batch 64": {"per_device_train_batch_size": 64},
    "bf16 autocast": {"bf16": True, "mixed_precision": "bf16"},
    "1 thread": {"threads": 1},
}
SCORE_LEVERS: dict[str, dict[str, Any]] = {
    "batch 512": {"batch_size": 512},
    "bf16 autocast": {"bf16": True},
    "1 thread": {"threads": 1},
}


def _gpt2(tokenizer: PreTrainedTokenizerBase) -> tuple[PreTrainedModel, list[str]]:
    set_seed(SEED)
    config = GPT2Config(num_labels=1, pad_token_id=tokenizer.pad_token_id)
    return GPT2ForSequenceClassification(config), ["score"]


# name -> (base model, the modules it had to initialise); tests swap in a tiny GPT-2.
# A model with random weights ranks pairs by chance, trained a few steps or not: its rows carry
# speed only, and the minutes its accuracy would cost are saved.
RANDOM_WEIGHTS = {"gpt2"}
MODELS: dict[str, Callable[[PreTrainedTokenizerBase], tuple[PreTrainedModel, list[str]]]] = {
    "minilm": lambda tokenizer: load_base_model(ModelParams(), tokenizer),
    "gpt2": _gpt2,
}


def recipe_args(recipe: str, params: Params, max_length: int, out: str) -> RewardConfig:
    """Each recipe's ``RewardConfig``; what is not named keeps the library's default."""
    if recipe == "tutorial":
        args = RewardConfig(
            out,
            per_device_train_batch_size=3,
            gradient_accumulation_steps=8,
            learning_rate=1.41e-5,
            pad_to_multiple_of=max_length,  # = its tokenizer(..., padding="max_length")
            max_length=max_length,
            gradient_checkpointing=False,
            disable_dropout=False,
            bf16=False,
        )
    elif recipe == "trl":
        args = RewardConfig(out, bf16=False)
    else:
        args = reward_config(params, Path(out))
    args.num_train_epochs, args.max_steps = 1, -1
    args.set_evaluate("no")  # in-training evaluation would land inside the timed steps
    args.set_save("no")
    args.include_num_input_tokens_seen = "non_padding"
    return args


def builtin_data(tokenizer, params: Params, pairs: int, eval_pairs: int) -> dict[str, Any]:
    """Builtin pairs rendered and tokenized as prepare and featurize do; the tail is held out."""
    rows = [format_pair(r, params.prepare.template) for r in generate_pairs(pairs + eval_pairs)]
    features, stats = tokenize_split(Dataset.from_list(rows), tokenizer, params.featurize)
    features = features.select_columns(["chosen_ids", "rejected_ids", "length"])
    test = features.select(range(pairs, pairs + eval_pairs))
    return {
        "train": features.select(range(pairs)),
        "test": test,
        "test_rows": rows[pairs:],
        "test_pair_tokens": [
            len(c) + len(r) for c, r in zip(test["chosen_ids"], test["rejected_ids"], strict=True)
        ],
        "tokens_per_sequence": stats["chosen_tokens"],
    }


def accuracy(model: PreTrainedModel, test: Dataset, pad_token_id: int) -> float:
    """Share of held-out pairs with reward(chosen) > reward(rejected); ties count as losses."""
    model.eval()
    rewards = score_token_ids(model, [*test["chosen_ids"], *test["rejected_ids"]], pad_token_id)
    n = len(test)
    return sum(c > r for c, r in zip(rewards[:n], rewards[n:], strict=True)) / n


def train_recipe(
    recipe: str,
    base,
    fresh,
    data,
    tokenizer,
    params,
    opts,
    overrides: dict | None = None,
    with_accuracy: bool = True,
) -> tuple[dict[str, Any], PreTrainedModel]:
    """Train ``recipe`` (plus ``overrides``) on a copy of ``base``; its rates and trained model."""
    model = copy.deepcopy(base)
    if recipe == "rewardlab" and params.train.disable_base_dropout:
        disable_dropout(model)  # as train.py does: the base's dropout off, LoRA's kept
    clock = MicroBatchClock(opts.warmup, opts.repeats, opts.max_seconds)
    with tempfile.TemporaryDirectory() as out:
        args = recipe_args(recipe, params, model.config.max_position_embeddings, out)
        for key, value in (overrides or {}).items():
            setattr(args, key, value)
        set_seed(SEED)  # the same LoRA initialisation for every recipe
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
    stats = clock.rates(args.per_device_train_batch_size, len(data["train"]))
    if with_accuracy:
        stats["accuracy"] = accuracy(trainer.model, data["test"], tokenizer.pad_token_id)
    return stats, trainer.model


def _progress(workload: str, recipe: str, lever: str, stats: dict) -> None:
    """A line per measurement on stderr: the whole run takes minutes."""
    name = f"{recipe} + {lever}" if lever else recipe
    print(
        f"bench: {time.strftime('%H:%M:%S')} {workload} {name}: "
        f"{stats['tokens_per_s']:,.0f} tokens/s over {stats['timed_seconds']:.1f} s",
        file=sys.stderr,
    )


def train_all(base, fresh, n, data, tokenizer, params, opts, with_accuracy) -> tuple[dict, Any]:
    """Rates of every recipe (and lever); also the model the ``rewardlab`` recipe trained."""
    train, trained = {}, None
    runs = [(r, "") for r in RECIPES] + [("rewardlab", lever) for lever in TRAIN_LEVERS]
    for recipe, lever in runs if opts.levers else runs[: len(RECIPES)]:
        overrides = dict(TRAIN_LEVERS.get(lever, {}))
        with torch_threads(overrides.pop("threads", None)):
            stats, model = train_recipe(
                recipe, base, fresh, data, tokenizer, params, opts, overrides, with_accuracy
            )
        stats["model_flops_per_s"] = 4 * n * stats["tokens_per_s"]
        stats["precision"] = "bf16" if overrides.get("bf16") else "fp32"
        train[f"{recipe} + {lever}" if lever else recipe] = stats
        _progress("train", recipe, lever, stats)
        if recipe == "rewardlab" and not lever:
            trained = model
    return train, trained


def score_all(trained, n, data, tokenizer, params, opts) -> tuple[dict, float]:
    """Scoring rates, the tutorial's loop first (LoRA unmerged), then merged and batched."""
    rows, pair_tokens = data["test_rows"], data["test_pair_tokens"]
    metadata = {"template": params.prepare.template, "max_length": params.featurize.max_length}
    loop, loop_rewards = score_tutorial_loop(trained, tokenizer, rows, pair_tokens, opts)
    score = {
        "tutorial": {**loop, "model_flops_per_s": 2 * n * loop["tokens_per_s"], "precision": "fp32"}
    }
    _progress("score", "tutorial", "", loop)
    merged = trained.merge_and_unload()  # as modeling.load_reward_model hands it to scoring
    for lever, options in [("", {}), *(SCORE_LEVERS.items() if opts.levers else [])]:
        options = {"batch_size": params.evaluate.batch_size, **options}
        with torch_threads(options.pop("threads", None)):
            stats, rewards = score_batched(
                merged, tokenizer, metadata, rows, pair_tokens, opts, **options
            )
        stats["model_flops_per_s"] = 2 * n * stats["tokens_per_s"]
        stats["precision"] = "bf16" if options.get("bf16") else "fp32"
        score[f"rewardlab + {lever}" if lever else "rewardlab"] = stats
        _progress("score", "rewardlab", lever, stats)
        if not lever:  # one model scored two ways: the rewards must agree
            diff = max(abs(a - b) for a, b in zip(loop_rewards, rewards, strict=False))
    return score, diff


def bench_model(name: str, tokenizer, data: dict, params: Params, opts) -> dict:
    """Train every recipe, then score the model this repo's recipe trained, both ways."""
    set_seed(SEED)  # the fresh score head is drawn at load time
    base, fresh = MODELS[name](tokenizer)
    n = non_embedding_params(base)
    with_accuracy = name not in RANDOM_WEIGHTS
    untrained = accuracy(base, data["test"], tokenizer.pad_token_id) if with_accuracy else None
    train, trained = train_all(base, fresh, n, data, tokenizer, params, opts, with_accuracy)
    score, diff = score_all(trained, n, data, tokenizer, params, opts)
    ratio = lambda rows, a, b, unit: rows[a][unit] / rows[b][unit]  # noqa: E731
    return {
        "non_embedding_params": n,
        "max_length": base.config.max_position_embeddings,
        "untrained_accuracy": untrained,
        "train": train,
        "score": score,
        "max_reward_difference_loop_vs_batched": diff,
        "speedup": {
            "train_vs_tutorial": ratio(train, "rewardlab", "tutorial", "tokens_per_s"),
            "train_vs_trl": ratio(train, "rewardlab", "trl", "tokens_per_s"),
            "score_vs_tutorial": ratio(score, "rewardlab", "tutorial", "pairs_per_s"),
        },
    }


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            p: importlib.metadata.version(p) for p in ("torch", "transformers", "trl", "peft")
        },
    }


def run(opts: argparse.Namespace) -> dict[str, Any]:
    """Everything the table and the JSON hold, measured in this process."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*(deprecated|pin_memory).*")
    params = load_params(opts.params) if Path(opts.params).exists() else Params()
    tokenizer = load_tokenizer(ModelParams())  # GPT-2 reads the same ids (see above)
    load_start = os.getloadavg()
    data = builtin_data(tokenizer, params, opts.pairs, opts.eval_pairs)
    peaks = {"fp32": peak_matmul_flops(), "bf16": peak_matmul_flops(torch.bfloat16)}
    settings = ("pairs", "eval_pairs", "repeats", "warmup", "max_seconds", "models", "levers")
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {key: getattr(opts, key) for key in settings},
        "tokens_per_sequence": data["tokens_per_sequence"],
        "models": {name: bench_model(name, tokenizer, data, params, opts) for name in opts.models},
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }
    # The roof is measured again at the end and the best kept: a busy moment at the start
    # must not make MFU look better than it is.
    peaks = {
        "fp32": max(peaks["fp32"], peak_matmul_flops()),
        "bf16": max(peaks["bf16"], peak_matmul_flops(torch.bfloat16)),
    }
    for entry in result["models"].values():
        for stats in [*entry["train"].values(), *entry["score"].values()]:
            stats["mfu"] = stats["model_flops_per_s"] / peaks[stats["precision"]]
    return {**result, "peak_flops": peaks}


def table(result: dict[str, Any]) -> str:
    """Markdown, one row per model, workload and recipe; the ratios are of real tokens/s."""
    m, peaks, load = result["machine"], result["peak_flops"], result["load_average"]
    lines = [
        f"{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads; best matmul "
        f"fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s; "
        f"1-min load average {load['start'][0]:.2f} at start, {load['end'][0]:.2f} at end; "
        f"{result['date']}",
        "",
        "| model | workload | recipe | real tokens/s | pairs/s | vs tutorial | vs TRL | MFU "
        "| held-out accuracy (pairs trained) |",
        "|---|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for name, entry in result["models"].items():
        for workload in ("train", "score"):
            rows = entry[workload]
            for recipe, s in rows.items():
                vs = [
                    s["tokens_per_s"] / rows[r]["tokens_per_s"]
                    for r in ("tutorial", "trl")
                    if r in rows
                ]
                accuracy = f"{s['accuracy']:.3f}" if "accuracy" in s else "—"
                trained = "" if workload == "score" else f"{accuracy} ({s['pairs_trained']})"
                cells = [
                    name,
                    workload,
                    recipe,
                    f"{s['tokens_per_s']:,.0f}",
                    f"{s['pairs_per_s']:.2f}",
                    *(f"{v:.2f}x" for v in vs),
                    *[""] * (2 - len(vs)),
                    f"{s['mfu']:.1%}",
                    trained,
                ]
                lines.append("| " + " | ".join(cells) + " |")
        if entry["untrained_accuracy"] is not None:
            untrained = f"{entry['untrained_accuracy']:.3f} (0)"
            lines.append(f"| {name} | | untrained | | | | | | {untrained} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rewardlab bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--pairs", type=int, default=128, help="training pairs, the same for every recipe")
    add("--eval-pairs", type=int, default=128, help="held-out pairs for accuracy and scoring")
    add("--repeats", type=int, default=3, help="timed windows; the table shows their median")
    add("--warmup", type=int, default=1, help="untimed micro-batches (training) or pairs (loop)")
    add("--max-seconds", type=float, default=120, help="stop a recipe early after this long")
    add("--models", default="minilm,gpt2", help=f"comma-separated, from {', '.join(MODELS)}")
    add("--levers", action="store_true", help="also time this repo's recipe with one change")
    add("--params", default=str(DEFAULT_PARAMS), help="this repo's recipe (defaults if missing)")
    add("--output", type=Path, default=Path("reports/bench.json"), help="where the JSON goes")
    opts = parser.parse_args(argv)
    opts.models = opts.models.split(",")
    if unknown := [m for m in opts.models if m not in MODELS]:
        raise UserError(f"bench: unknown model(s) {unknown}; choose from {', '.join(MODELS)}.")
    if min(opts.pairs, opts.eval_pairs, opts.repeats) < 1 or opts.warmup < 0:
        raise UserError("bench: --pairs, --eval-pairs and --repeats must be >= 1, --warmup >= 0.")
    return opts


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    result = run(opts)
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nbench: wrote {opts.output}")


if __name__ == "__main__":
    run_main(main)
