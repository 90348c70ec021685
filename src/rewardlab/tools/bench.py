"""``rewardlab bench``: training and scoring speed against the tutorial's recipe and plain TRL.

One process, the same builtin pairs, the same models: ``builtin:minilm``, and a GPT-2 from
``GPT2Config()`` with random weights standing in for the tutorial's ``gpt2`` (no Hub needed).
Both read the MiniLM tokenizer's ids: they fit GPT-2's vocabulary, WordPiece and GPT-2's BPE cut
English into about as many tokens, and for speed only the lengths matter.

Training runs TRL's ``RewardTrainer`` one epoch over the same ``--pairs`` pairs, on a fresh copy
of the model with the same LoRA, three ways: ``tutorial`` (every sequence padded to the model's
maximum, batch 3, accumulation 8, lr 1.41e-5, dropout on, fp32, as its trainer did), ``trl``
(``RewardConfig()`` defaults, bf16 included, plus the ``use_cpu`` TRL asks for on a CPU) and
``rewardlab`` (this repo's params, through ``train.reward_config``, ``train.attention`` and,
for decoder bases, ``train.prefix_sharing`` and ``train.packing``), plus the rows of ``ALWAYS``
(prefix sharing off, packing off, the attention kernel the recipe did not pick). Two workloads
(``bench_workloads``): the builtin pairs, and hh-rlhf-shaped multi-turn transcripts made from
them (``--multi-turn``: the models trained on it too). Scoring (``bench_scoring``) runs the
tutorial's one-text-per-forward loop against ``score_responses``. ``--levers`` adds this repo's
recipe with one more thing changed; ``--profile`` only profiles one training step per model
(``bench_profile``).

bf16 is measured only where the hardware computes it (``devices.native_bf16``). Elsewhere torch
emulates it some 50x slower than fp32: the bf16 roofs, the bf16 scoring row and the bf16-only levers
(``auto`` is fp32 there already) are left out, and plain TRL runs in fp32, as a user of that CPU
would switch it to; the table says so.

MFU: model FLOP/s over two roofs of the same run, in the recipe's precision: the best square
matmul, and the model's own matmul shapes (``roofline``).
Model FLOPs count real tokens only, with N the non-embedding parameters: a LoRA step on a frozen
base is 2N per token forward and 2N backward (activation gradients; LoRA's own are negligible),
so 4N; scoring is 2N. Gradient checkpointing's recomputation is not useful work: not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from datasets import disable_progress_bars
from transformers import (
    GPT2Config,
    GPT2ForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    set_seed,
)
from transformers.utils import logging as hf_logging

from rewardlab.core import devices
from rewardlab.core.errors import UserError, run_main
from rewardlab.core.params import DEFAULT_PARAMS, ModelParams, Params, load_params
from rewardlab.model import prefix_sharing, training
from rewardlab.model.loading import load_base_model, load_tokenizer
from rewardlab.tools import bench_profile, roofline
from rewardlab.tools.bench_scoring import (
    add_mfu,
    micro_batch_tokens,
    model_roofs,
    record,
    score_all,
)
from rewardlab.tools.bench_table import table
from rewardlab.tools.bench_training import (
    SEED,
    Bench,
    accuracy,
    train_once,
    train_recipe,
)
from rewardlab.tools.bench_workloads import workload_data
from rewardlab.tools.throughput import (
    machine,
    non_embedding_params,
    peak_matmul_flops,
    torch_threads,
)

RECIPES = ("tutorial", "trl", "rewardlab")
MULTI_TURN_RECIPES = ("trl", "rewardlab")
PEAK_SIZES = (512, 1024, 2048)  # square matmuls for the roof; tests use small ones
# This repo's recipe with one thing changed: RewardConfig fields, or torch's thread count.
TRAIN_LEVERS: dict[str, dict[str, Any]] = {
    "random order": {"train_sampling_strategy": "random"},
    "batch 32": {"per_device_train_batch_size": 32},
    "batch 64": {"per_device_train_batch_size": 64},
    "fp32": {"bf16": False, "mixed_precision": "no"},  # what train.mixed_precision auto buys
    # After construction both names must be set: transformers' Trainer reads the new one, TRL's
    # the old one (to make LoRA's inputs require grads).
    "gradient checkpointing": {"activation_checkpointing": True, "gradient_checkpointing": True},
    "base dropout on": {"base_dropout": True},
    "1 thread": {"threads": 1},
    # What the profile points at: LoRA dropout's masks; weight casts under autocast (bf16 only).
    "LoRA dropout 0": {"lora_dropout": 0.0},
    "frozen weights in bf16": {"frozen_bf16": True},
}
# Measured in every run, after this repo's recipe: the issue's questions. Prefix sharing's two
# rows on decoder bases only (where train.prefix_sharing auto shares); bf16's where native.
ALWAYS: dict[str, dict[str, Any]] = {
    "prefix sharing off": {"prefix_sharing": "off"},  # the two-sequence path
    # Length-grouped batches of one shared pair a row, instead of random order, packed rows.
    "packing off": {"packing": "off"},
    # The kernel train.attention did not pick (auto: eager for bf16 on a CPU, where SDPA's fused
    # CPU backward was the profile's costliest attention op; SDPA elsewhere).
    "eager attention": {"attention": "eager"},
    "sdpa attention": {"attention": "sdpa"},
}
ATTENTION_LEVERS = ("eager attention", "sdpa attention")
DECODER_ONLY = ("prefix sharing off", "packing off")


def _gpt2(tokenizer: PreTrainedTokenizerBase) -> tuple[PreTrainedModel, list[str]]:
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


def train_all(
    bench: Bench,
    base,
    fresh,
    n: int,
    with_accuracy: bool,
    recipes: Sequence[str] = RECIPES,
    with_levers: bool = True,
) -> tuple[dict, Any]:
    """Rates of every recipe (and lever); also the model the ``rewardlab`` recipe trained."""
    train, trained = {}, None
    shares = prefix_sharing.resolve(bench.params.train.prefix_sharing, base.config)
    other_attention = _other_attention(bench.params, base, bench.data["stats"]["max_length"])
    always = [
        lever
        for lever in ALWAYS
        if (lever not in DECODER_ONLY or shares)
        and (lever not in ATTENTION_LEVERS or lever == other_attention)
    ]
    bf16_only = ("fp32", "frozen weights in bf16")
    levers = [lever for lever in TRAIN_LEVERS if lever not in bf16_only or bench.bf16]
    runs = [(r, "") for r in recipes] + [("rewardlab", lever) for lever in always]
    runs += [("rewardlab", lever) for lever in levers] if bench.opts.levers and with_levers else []
    for recipe, lever in runs:
        overrides = dict({**TRAIN_LEVERS, **ALWAYS}.get(lever, {}))
        with torch_threads(overrides.pop("threads", None)):
            stats, model = train_recipe(bench, recipe, base, fresh, overrides, with_accuracy)
        name = f"{recipe} + {lever}" if lever else recipe
        record(train, name, stats, 4 * n)
        trained = model if name == "rewardlab" else trained
    return train, trained


def _other_attention(params: Params, base: PreTrainedModel, max_length: int) -> str:
    """The attention lever: the kernel ``train.attention`` does not train this base with."""
    setting, precision = params.train.attention, training.precision(params)
    chosen = training.attention(setting, precision, base, max_length)
    return "sdpa attention" if chosen == "eager" else "eager attention"


def _speedups(train: dict, score: dict) -> dict[str, float]:
    rate = {name: stats["tokens_per_s"] for name, stats in train.items()}
    speedup = {"train_vs_trl": rate["rewardlab"] / rate["trl"]}
    if "tutorial" in rate:
        speedup["train_vs_tutorial"] = rate["rewardlab"] / rate["tutorial"]
    # What this repo's default has over the lever's row (the lever switches it off), or the
    # lever's row over the default (the lever switches it on).
    for lever, key, default_has_it in (
        ("prefix sharing off", "prefix_sharing_vs_two_sequence", True),
        ("packing off", "packing_vs_grouping", True),
        ("frozen weights in bf16", "frozen_bf16_vs_default", False),
        ("eager attention", "eager_attention_vs_sdpa", False),
        ("sdpa attention", "eager_attention_vs_sdpa", True),
    ):
        if f"rewardlab + {lever}" in rate:
            ratio = rate["rewardlab"] / rate[f"rewardlab + {lever}"]
            speedup[key] = ratio if default_has_it else 1 / ratio
    if score:
        loop = score["tutorial"]["pairs_per_s"]
        for name, key in (("rewardlab", ""), ("rewardlab --precision bf16", "_bf16")):
            if name in score:
                speedup[f"score{key}_vs_tutorial"] = score[name]["pairs_per_s"] / loop
    return speedup


def bench_model(bench: Bench, name: str) -> dict:
    """Train every recipe, then score the model this repo's recipe trained, both ways."""
    set_seed(SEED)  # the fresh score head is drawn at load time
    base, fresh = MODELS[name](bench.tokenizer)
    n, with_accuracy = non_embedding_params(base), name not in RANDOM_WEIGHTS
    test, pad = bench.data["test"], bench.tokenizer.pad_token_id
    untrained = accuracy(base, test, pad) if with_accuracy else None
    train, trained = train_all(bench, base, fresh, n, with_accuracy)
    score = score_all(bench, trained, n)
    return {
        "non_embedding_params": n,
        "max_length": base.config.max_position_embeddings,
        "untrained_accuracy": untrained,
        "train": train,
        "score": score,
        "speedup": _speedups(train, score),
    }


def bench_multi_turn(bench: Bench, name: str) -> dict:
    """Training on the multi-turn workload: plain TRL against this repo's recipe.

    The tutorial's recipe is left out: padding 170-token transcripts to GPT-2's 1,024 positions
    says what the builtin rows already say, at over a minute a micro-batch.
    """
    set_seed(SEED)
    base, fresh = MODELS[name](bench.tokenizer)
    n, with_accuracy = non_embedding_params(base), name not in RANDOM_WEIGHTS
    train, _ = train_all(
        bench, base, fresh, n, with_accuracy, MULTI_TURN_RECIPES, with_levers=False
    )
    return {"train": train, "speedup": _speedups(train, {})}


def run(opts: argparse.Namespace) -> dict[str, Any]:
    """Everything the table and the JSON hold, measured in this process."""
    params = load_params(opts.params) if Path(opts.params).exists() else Params()
    tokenizer = load_tokenizer(ModelParams())  # GPT-2 reads the same ids (see above)
    load_start = os.getloadavg()
    wanted = ["builtin"] + (["multi-turn"] if opts.multi_turn else [])
    data = {w: workload_data(w, tokenizer, params, opts.pairs, opts.eval_pairs) for w in wanted}
    bench = Bench(tokenizer, params, data["builtin"], opts, devices.native_bf16())
    dtypes = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if bench.bf16 else {})}
    peaks = {name: peak_matmul_flops(dtype, PEAK_SIZES) for name, dtype in dtypes.items()}
    settings = ("pairs", "eval_pairs", "repeats", "warmup", "max_seconds", "models", "levers")
    models = {name: bench_model(bench, name) for name in opts.models}
    if opts.multi_turn:
        turns = replace(bench, data=data["multi-turn"])
        for name in opts.multi_turn:
            models[name] = {**models.get(name, {}), "multi_turn": bench_multi_turn(turns, name)}
    # The roofs are measured at the end, the square one again and the best kept: a busy moment
    # at the start must not make MFU look better than it is.
    peaks = {name: max(peaks[name], peak_matmul_flops(d, PEAK_SIZES)) for name, d in dtypes.items()}
    roof_tokens = {w: micro_batch_tokens(params, data[w]["stats"]) for w in wanted}
    for name, entry in models.items():
        shapes = roofline.matmul_shapes(MODELS[name](tokenizer)[0])
        entry["matmul_shapes"] = [[k, n, count] for (k, n), count in sorted(shapes.items())]
        entry["model_roof"] = {
            w: {"tokens": roof_tokens[w], **model_roofs(shapes, roof_tokens[w], dtypes)}
            for w in wanted
            if ("train" if w == "builtin" else "multi_turn") in entry
        }
        if "train" in entry:
            for workload in ("train", "score"):
                add_mfu(entry, workload, peaks, entry["model_roof"]["builtin"])
            # No scorer can beat the loop by more than the roof over what the loop gets.
            loop = entry["score"]["tutorial"]["model_flops_per_s"]
            entry["speedup"]["score_ceiling"] = {p: peak / loop for p, peak in peaks.items()}
        if "multi_turn" in entry:
            add_mfu(entry["multi_turn"], "train", peaks, entry["model_roof"]["multi-turn"])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {key: getattr(opts, key) for key in (*settings, "multi_turn")},
        "tokens_per_sequence": data["builtin"]["stats"]["tokens_per_sequence"],
        "workloads": {w: data[w]["stats"] for w in wanted},
        "models": models,
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "peak_flops": peaks,
    }


def profile(opts: argparse.Namespace) -> str:
    """One profiled training step of this repo's recipe per model: the breakdown tables."""
    params = load_params(opts.params) if Path(opts.params).exists() else Params()
    tokenizer = load_tokenizer(ModelParams())
    data = workload_data("builtin", tokenizer, params, opts.pairs, 1)
    bench = Bench(tokenizer, params, data, opts, devices.native_bf16())
    variants = {"": {}}
    if opts.levers:  # the levers the profile points at, profiled the same way
        if bench.bf16:
            variants["frozen weights in bf16"] = TRAIN_LEVERS["frozen weights in bf16"]
        variants["attention"] = {}  # the other kernel, per model (below)
        variants["LoRA dropout 0"] = TRAIN_LEVERS["LoRA dropout 0"]
    tables = []
    for name in opts.models:
        set_seed(SEED)
        base, fresh = MODELS[name](tokenizer)
        for lever, overrides in variants.items():
            if lever == "attention":
                lever = _other_attention(params, base, data["stats"]["max_length"])
                overrides = ALWAYS[lever]
            profiler = bench_profile.StepProfiler()
            train_once(bench, "rewardlab", base, fresh, overrides, profiler)
            bf16 = bench.bf16 and params.train.mixed_precision != "fp32"
            title = f"{name}, this repo's recipe{f' + {lever}' if lever else ''}"
            title += f" ({'bf16' if bf16 else 'fp32'})"
            tables.append(bench_profile.format_breakdown(title, profiler.result, profiler.top))
    return "\n\n".join(tables)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rewardlab bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--pairs", type=int, default=128, help="training pairs, the same for every recipe")
    add("--eval-pairs", type=int, default=64, help="held-out pairs for accuracy and scoring")
    add("--repeats", type=int, default=3, help="timed windows; the table shows their median")
    add("--warmup", type=int, default=1, help="untimed micro-batches (training) or pairs (loop)")
    add("--max-seconds", type=float, default=60, help="stop a recipe early after this long")
    add("--models", default="minilm,gpt2", help=f"comma-separated, from {', '.join(MODELS)}")
    add("--levers", action="store_true", help="also time this repo's recipe with one change")
    add(
        "--multi-turn",
        default="gpt2",
        help="models also trained on the multi-turn workload (comma-separated; '' for none)",
    )
    add("--profile", action="store_true", help="only profile one training step per model")
    add("--params", default=str(DEFAULT_PARAMS), help="this repo's recipe (defaults if missing)")
    add("--output", type=Path, default=Path("reports/bench.json"), help="where the JSON goes")
    opts = parser.parse_args(argv)
    opts.models = opts.models.split(",")
    opts.multi_turn = [m for m in opts.multi_turn.split(",") if m]
    if unknown := [m for m in [*opts.models, *opts.multi_turn] if m not in MODELS]:
        raise UserError(f"bench: unknown model(s) {unknown}; choose from {', '.join(MODELS)}.")
    if min(opts.pairs, opts.eval_pairs, opts.repeats) < 1 or opts.warmup < 0:
        raise UserError("bench: --pairs, --eval-pairs and --repeats must be >= 1, --warmup >= 0.")
    return opts


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*(deprecated|pin_memory).*")
    if opts.profile:
        print(profile(opts))
        return
    start = time.perf_counter()
    result = run(opts)
    result["wall_seconds"] = time.perf_counter() - start
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nbench: wrote {opts.output}")


if __name__ == "__main__":
    run_main(main)
