"""Measuring throughput for ``rewardlab bench``: the roof, the clock, the scoring loops.

Rates are real (non-pad) tokens and pairs per second, so padding shows up as lost speed, never as
work. Timed units (micro-batches, pairs, scoring passes) are dealt round-robin into windows and
the median window is reported: round-robin, because length-grouped batches come longest first and
consecutive windows would differ by sequence length rather than by noise.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from rewardlab.core.errors import UserError
from rewardlab.model.scoring import Precision, score_responses


def peak_matmul_flops(dtype: torch.dtype, sizes: Sequence[int]) -> float:
    """Best FLOP/s of square matmuls: the roof that MFU is measured against, here and now.

    Only for a precision the hardware computes: an emulated bf16 2048³ takes 17 s a matmul.
    """
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up: thread pool, packing buffers
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


def non_embedding_params(model: PreTrainedModel) -> int:
    """N of the model-FLOPs formula: embedding rows are looked up, not multiplied."""
    tables = {
        id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    }
    return sum(p.numel() for p in model.parameters() if id(p) not in tables)


def out_of_time(start: float, timed: int, max_seconds: float) -> bool:
    """Stop a measurement early once one unit past the warm-up is timed and time is up: a
    recipe that pads to 1024 tokens takes over a minute a micro-batch on two cores."""
    return timed >= 1 and time.perf_counter() - start > max_seconds


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: leave torch's choice alone)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def window_rates(
    seconds: Sequence[float], tokens: Sequence[int], pairs: Sequence[int], warmup: int, repeats: int
) -> dict[str, Any]:
    """Median tokens/s and pairs/s over ``repeats`` round-robin windows after the warm-up.

    At least one unit is always timed, even if that eats into the warm-up (tiny runs only).
    """
    units = list(zip(seconds, tokens, pairs, strict=True))
    if not units:
        raise UserError("bench: nothing was timed; raise --pairs.")
    units = units[min(warmup, len(units) - 1) :]
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
    """Stamp every micro-batch's end; count each micro-batch's real tokens as it is collated.

    Between two stamps lie a forward and backward pass and whatever the trainer does around it
    (collation, the optimizer step closing an accumulation): what a user waits for. Real tokens
    are both sides' ids of every pair (``counting`` wraps the collator), the same work for every
    recipe: a prefix-shared or packed batch computes fewer positions for the same pairs, and
    that shows as speed, not as less work. Batches are collated in order (accelerate fetches
    one ahead), so the k-th count is the k-th micro-batch's.
    """

    def __init__(self, warmup: int, repeats: int, max_seconds: float) -> None:
        self.warmup, self.repeats, self.max_seconds = warmup, repeats, max_seconds
        self.stamps: list[float] = []
        self.batch_tokens: list[int] = []

    def counting(self, collator: Callable) -> Callable:
        def collate(examples: list[dict[str, Any]]) -> Any:
            tokens = sum(len(e["chosen_ids"]) + len(e["rejected_ids"]) for e in examples)
            self.batch_tokens.append(tokens)
            return collator(examples)

        return collate

    def on_train_begin(self, args, state, control, **kwargs):
        self.stamps = [time.perf_counter()]

    def on_substep_end(self, args, state, control, **kwargs):
        self.stamps.append(time.perf_counter())
        if out_of_time(self.stamps[0], len(self.stamps) - 1 - self.warmup, self.max_seconds):
            control.should_training_stop = True

    on_step_end = on_substep_end

    def rates(self, batch_size: int, pool: int) -> dict[str, Any]:
        times = self.stamps
        n = len(times) - 1
        return {
            **window_rates(
                [b - a for a, b in itertools.pairwise(times)],
                self.batch_tokens[:n],
                [min(batch_size, pool - i * batch_size) for i in range(n)],
                self.warmup,
                self.repeats,
            ),
            "pairs_trained": min(n * batch_size, pool),
        }


def score_tutorial_loop(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, str]],
    pair_tokens: Sequence[int],
    opts: Any,
) -> tuple[dict[str, Any], list[float]]:
    """The tutorial's ``predict_and_get_logits`` on both sides of each pair, timed per pair.

    One text per forward, tokenized on the spot, under ``no_grad``, LoRA unmerged, eval mode.
    """
    model.eval()
    seconds, rewards, start = [], [], time.perf_counter()
    for row in rows:
        tick = time.perf_counter()
        for text in (row["chosen_text"], row["rejected_text"]):
            inputs = tokenizer(
                text,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=512,
                # Zeros for BERT, which is its default anyway; GPT-2's tokenizer returns none,
                # and GPT-2 would add them as embeddings.
                return_token_type_ids=False,
            )
            with torch.no_grad():
                rewards.append(model(**inputs).logits.squeeze().item())
        seconds.append(time.perf_counter() - tick)
        if out_of_time(start, len(seconds) - opts.warmup, opts.max_seconds):
            break
    n = len(seconds)
    return window_rates(seconds, pair_tokens[:n], [1] * n, opts.warmup, opts.repeats), rewards


def score_batched(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    rows: Sequence[dict[str, str]],
    pair_tokens: Sequence[int],
    opts: Any,
    batch_size: int,
    precision: Precision = "fp32",
) -> tuple[dict[str, Any], list[float]]:
    """``rewardlab score``: all sides in one ``score_responses`` call; one pass is one unit."""
    prompts = [row["prompt"] for row in rows] * 2
    responses = [row["chosen"] for row in rows] + [row["rejected"] for row in rows]
    warmup, seconds, start = min(opts.warmup, 1), [], time.perf_counter()
    for _ in range(warmup + opts.repeats):
        tick = time.perf_counter()
        rewards = score_responses(
            model, tokenizer, metadata, prompts, responses, batch_size, precision
        )
        seconds.append(time.perf_counter() - tick)
        if out_of_time(start, len(seconds) - warmup, opts.max_seconds):
            break
    n, half = len(seconds), len(rows)
    stats = window_rates(seconds, [sum(pair_tokens)] * n, [half] * n, warmup, opts.repeats)
    # In the tutorial loop's order (chosen, rejected, chosen, ...) so the two can be compared.
    return stats, [r for pair in zip(rewards[:half], rewards[half:], strict=True) for r in pair]


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
