"""``rewardlab bench-overlap``: what the train/test overlap check costs at a real size.

Evaluate checks every scored set against the training split's prompts
(``evaluation/overlap.py``); this measures it at 160,000 training prompts against 10,000
evaluation prompts, the size of a large public preference set against a benchmark. The prompts
are made of the builtin generator's words, drawn as often as its pairs use them, with lengths
drawn log-normally around a median of 30 words (about 50 on average, one in five under 13, a
few hundred at most), as in public preference sets: short questions, some long instructions.

A known overlap is planted, so the table can show the check finds it: 1% of the evaluation
prompts are training prompts with their case and spacing changed (exact), 1% embed 13 words of a
long training prompt among fresh words (13-gram), and 1% are 5 to 12 consecutive words of a
training prompt (a short prompt, taken whole). Fresh random prompts of three or more words can
still share a run of words with training by chance; the table shows what was found beyond the
plant.

Build is hashing the training prompts; lookup is checking the evaluation prompts against them.
Times are the best of ``--repeats`` runs; peak memory is the most Python and numpy held at once
during a build and a lookup (``tracemalloc``, in a run of its own, since tracing slows it down),
the prompts themselves not counted.
"""

from __future__ import annotations

import argparse
import collections
import string
import time
import tracemalloc
from collections.abc import Sequence

import numpy as np

from rewardlab.data.sources.generator import generate_pairs
from rewardlab.evaluation.overlap import NGRAM, Overlap, TrainingPrompts

MEDIAN_WORDS, SIGMA, MIN_WORDS, MAX_WORDS = 30, 1.0, 3, 1000
PLANTED = 0.01  # of the evaluation prompts, for each of the three kinds of overlap


def vocabulary(seed: int) -> tuple[list[str], np.ndarray]:
    """The builtin generator's words (a planted run of 13 stays 13), and how often each is used."""
    counts = collections.Counter(
        word
        for row in generate_pairs(600, seed)
        for word in " ".join((row["prompt"], row["chosen"], row["rejected"])).split()
        if word.strip(string.punctuation)  # "-" or "1." alone is no word once punctuation goes
    )
    words, freq = zip(*counts.most_common(), strict=True)
    weights = np.asarray(freq, dtype=float)
    return list(words), weights / weights.sum()


def random_prompts(count: int, rng: np.random.Generator, words: list[str], p: np.ndarray) -> list:
    lengths = np.clip(rng.lognormal(np.log(MEDIAN_WORDS), SIGMA, count), MIN_WORDS, MAX_WORDS)
    picks = rng.choice(len(words), size=int(lengths.astype(int).sum()), p=p)
    vocab, out, at = np.asarray(words, dtype=object), [], 0
    for length in lengths.astype(int):
        out.append(" ".join(vocab[picks[at : at + length]]))
        at += length
    return out


def planted_sets(
    train_count: int, eval_count: int, seed: int
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Training prompts, evaluation prompts with overlap planted, where exact and all of it is."""
    rng = np.random.default_rng(seed)
    words, p = vocabulary(seed)
    train = random_prompts(train_count, rng, words, p)
    evaluation = random_prompts(eval_count, rng, words, p)
    plant = max(1, int(eval_count * PLANTED))
    long_ones = [t.split() for t in train if len(t.split()) >= 2 * NGRAM]
    slots = rng.choice(eval_count, size=3 * plant, replace=False)
    for i, slot in enumerate(slots):
        kind, source = i // plant, long_ones[int(rng.integers(len(long_ones)))]
        if kind == 0:  # exact, but in other case and spacing
            evaluation[slot] = "  " + "   ".join(source).upper() + "\n"
        elif kind == 1:  # 13 words of a training prompt between fresh ones
            start = int(rng.integers(len(source) - NGRAM))
            fresh = evaluation[slot].split()
            middle = len(fresh) // 2
            evaluation[slot] = " ".join(
                fresh[:middle] + source[start : start + NGRAM] + fresh[middle:]
            )
        else:  # a short prompt that a training prompt holds whole
            length = int(rng.integers(5, NGRAM))
            start = int(rng.integers(len(source) - length))
            evaluation[slot] = " ".join(source[start : start + length]).capitalize()
    return train, evaluation, np.sort(slots[:plant]), np.sort(slots)


def measure(train: list[str], evaluation: list[str], repeats: int) -> tuple[dict, Overlap]:
    builds, lookups = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        index = TrainingPrompts(train)
        middle = time.perf_counter()
        overlap = index.check(evaluation)
        builds.append(middle - start)
        lookups.append(time.perf_counter() - middle)
        del index
    tracemalloc.start()
    TrainingPrompts(train).check(evaluation)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"build_s": min(builds), "lookup_s": min(lookups), "peak_mib": peak / 2**20}, overlap


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rewardlab bench-overlap",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train", type=int, default=160_000, help="training prompts (160000)")
    parser.add_argument("--eval", type=int, default=10_000, help="evaluation prompts (10000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, best kept (3)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the prompts (0)")
    opts = parser.parse_args(argv)
    if min(opts.train, opts.eval, opts.repeats) < 1:
        parser.error("--train, --eval and --repeats must be at least 1")
    train, evaluation, exact, planted = planted_sets(opts.train, opts.eval, opts.seed)
    words = sum(len(t.split()) for t in train)
    result, found = measure(train, evaluation, opts.repeats)
    beyond = np.setdiff1d(np.flatnonzero(found.ngram), planted)
    short = sum(len(evaluation[i].split()) < 5 for i in beyond)
    print(
        f"bench-overlap: {opts.train} training prompts ({words / opts.train:.1f} words on "
        f"average) against {opts.eval} evaluation prompts, {NGRAM}-grams"
    )
    rows = [
        ("build (hash the training prompts)", f"{result['build_s']:.2f} s"),
        ("lookup (check the evaluation prompts)", f"{result['lookup_s']:.2f} s"),
        ("peak memory (tracemalloc)", f"{result['peak_mib']:.0f} MiB"),
        ("exact overlap: found / planted", f"{found.exact.sum()} / {len(exact)}"),
        (f"{NGRAM}-gram overlap: found / planted", f"{found.ngram.sum()} / {len(planted)}"),
        ("  planted ones missed", f"{len(np.setdiff1d(planted, np.flatnonzero(found.ngram)))}"),
        ("  found beyond the plant (under 5 words)", f"{len(beyond)} ({short})"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>12}")
