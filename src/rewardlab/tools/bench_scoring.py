"""Scoring for ``rewardlab bench``, and the roofs and MFU every row is judged by.

Scoring runs the tutorial's one-text-per-forward loop against ``score_responses`` (the path of
``rewardlab score`` and evaluate: length-sorted token-budget batches, inference mode, LoRA
merged) on the model this repo's recipe trained, in fp32 and, where native, bf16. Every row says
how far its rewards are from the loop's and how often it picks the same winner.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from transformers import PreTrainedModel

from rewardlab.core.params import Params
from rewardlab.model import scoring
from rewardlab.tools import roofline
from rewardlab.tools.bench_training import Bench
from rewardlab.tools.throughput import score_batched, score_tutorial_loop, torch_threads

# "LoRA unmerged" is measured too: the model before merge_and_unload.
SCORE_LEVERS: dict[str, dict[str, Any]] = {
    # One batch of up to 512 sequences, as scoring batched before the token budget.
    "no token budget": {"batch_size": 512, "token_budget": 10**9},
    "token budget 2048": {"token_budget": 2048},
    "1 thread": {"threads": 1},
}


def record(rows: dict, name: str, stats: dict, flops_per_token: int) -> None:
    """File a measurement (which says its precision) under ``name`` with its model FLOP/s."""
    stats.update(model_flops_per_s=flops_per_token * stats["tokens_per_s"])
    rows[name] = stats
    print(
        f"bench: {time.strftime('%H:%M:%S')} {name}: {stats['tokens_per_s']:,.0f} real "
        f"tokens/s over {stats['timed_seconds']:.1f} s",
        file=sys.stderr,
    )


def _same_winner(reference: Sequence[float], rewards: Sequence[float]) -> float:
    """Share of the pairs both scored (rewards as chosen, rejected, ...) with the same winner."""
    pairs = min(len(reference), len(rewards)) // 2
    same = sum(
        (reference[2 * i] > reference[2 * i + 1]) == (rewards[2 * i] > rewards[2 * i + 1])
        for i in range(pairs)
    )
    return same / pairs


@contextmanager
def _token_budget(tokens: int | None) -> Iterator[None]:
    """Score with another ``scoring.TOKEN_BUDGET`` (None: leave it)."""
    before = scoring.TOKEN_BUDGET
    scoring.TOKEN_BUDGET = tokens or before
    try:
        yield
    finally:
        scoring.TOKEN_BUDGET = before


def score_all(bench: Bench, trained: PreTrainedModel, n: int) -> dict:
    """The tutorial's loop, then ``rewardlab score``'s path, on the model rewardlab trained.

    Every row also says how far its rewards are from the loop's, and how often it picks the
    same winner: the same model scored two ways must agree (up to bf16's rounding, where asked).
    """
    params, opts, rows = bench.params, bench.opts, bench.data["test_rows"]
    pair_tokens = bench.data["test_pair_tokens"]
    metadata = {"template": params.featurize.template, "max_length": params.featurize.max_length}
    score: dict[str, Any] = {}
    stats, reference = score_tutorial_loop(trained, bench.tokenizer, rows, pair_tokens, opts)
    record(score, "tutorial", {**stats, "precision": "fp32"}, 2 * n)

    def batched(
        name: str, model: PreTrainedModel, threads=None, token_budget=None, **options
    ) -> None:
        options = {"batch_size": params.evaluate.batch_size, **options}
        with torch_threads(threads), _token_budget(token_budget):
            stats, rewards = score_batched(
                model, bench.tokenizer, metadata, rows, pair_tokens, opts, **options
            )
        stats["max_reward_difference"] = max(
            abs(a - b) for a, b in zip(reference, rewards, strict=False)
        )
        stats["winner_agreement"] = _same_winner(reference, rewards)
        stats["precision"] = options.get("precision", "fp32")
        record(score, name, stats, 2 * n)

    if opts.levers:
        batched("rewardlab + LoRA unmerged", trained)
    merged = trained.merge_and_unload()  # as model.loading.load_reward_model hands it to scoring
    batched("rewardlab", merged)
    if bench.bf16:
        batched("rewardlab --precision bf16", merged, precision="bf16")
    for lever, options in SCORE_LEVERS.items() if opts.levers else ():
        batched(f"rewardlab + {lever}", merged, **options)
    return score


def model_roofs(shapes: Counter, tokens: int, dtypes: dict) -> dict[str, dict]:
    """The model's own matmul roof, forward (scoring) and training, in every precision."""
    return {
        precision: {
            purpose: roofline.shape_roof(shapes, tokens, dtype, purpose == "train")
            for purpose in ("score", "train")
        }
        for precision, dtype in dtypes.items()
    }


def add_mfu(rows: dict, workload: str, peaks: dict, roof: dict) -> None:
    for stats in rows.get(workload, {}).values():
        stats["mfu"] = stats["model_flops_per_s"] / peaks[stats["precision"]]
        stats["mfu_model_shapes"] = stats["model_flops_per_s"] / roof[stats["precision"]][workload]


def micro_batch_tokens(params: Params, stats: dict) -> int:
    """Tokens of one micro-batch of this repo's recipe: both sides of every pair, at their mean."""
    mean = sum(side["mean"] for side in stats["tokens_per_sequence"].values()) / 2
    return round(params.train.per_device_train_batch_size * 2 * mean)
