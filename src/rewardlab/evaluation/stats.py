"""Statistics for pairwise evaluation: how good a reward model is, how sure, where, how calibrated.

Everything works on per-pair arrays (rewards, lengths), so each figure can be checked on cases
built by hand. A pair is *won* when reward(chosen) > reward(rejected): a tie is a loss, because a
scorer that cannot tell two responses apart has not ranked them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

LENGTH_BUCKETS = ("chosen_shorter", "similar", "chosen_longer")
# Pair length in tokens (the longer side, before truncation): powers of two, so the buckets
# keep their names from one model or max_length to the next and runs stay comparable.
TOKEN_EDGES = (0, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def wins(chosen: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Per pair: did the chosen side score strictly higher?"""
    return np.asarray(chosen) > np.asarray(rejected)


def win_rate(chosen: np.ndarray, rejected: np.ndarray) -> float:
    """Fraction of pairs won; 0.0 for no pairs."""
    won = wins(chosen, rejected)
    return float(won.mean()) if won.size else 0.0


def bootstrap_ci(
    won: np.ndarray, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of a win rate.

    The mean of n outcomes resampled with replacement from n zeros and ones is exactly
    Binomial(n, observed rate) / n, so drawing that is the same bootstrap as resampling pair
    indices, in memory that does not grow with the number of pairs.
    """
    won = np.asarray(won, dtype=bool)
    if won.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    rates = rng.binomial(won.size, won.mean(), size=resamples) / won.size
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def random_win_rate(pairs: int, seed: int) -> float:
    """Win rate of a scorer that draws every reward at random, on this many pairs.

    Its expectation is 0.5; the drawn value shows how far chance alone moves a win rate here.
    """
    rng = np.random.default_rng(seed)
    return win_rate(rng.random(pairs), rng.random(pairs))


def length_buckets(
    chosen_chars: np.ndarray, rejected_chars: np.ndarray, tolerance: float
) -> pd.Categorical:
    """Name each pair by how the chosen response's length compares with the rejected one's.

    Lengths within ``tolerance`` (relative to the longer side) are "similar": that bucket is where
    length cannot explain a win.
    """
    chosen = np.asarray(chosen_chars, dtype=float)
    rejected = np.asarray(rejected_chars, dtype=float)
    relative = (chosen - rejected) / np.maximum(np.maximum(chosen, rejected), 1.0)
    names = np.select(
        [relative < -tolerance, relative > tolerance],
        [LENGTH_BUCKETS[0], LENGTH_BUCKETS[2]],
        default=LENGTH_BUCKETS[1],
    )
    return pd.Categorical(names, categories=LENGTH_BUCKETS, ordered=True)


def token_buckets(tokens: np.ndarray) -> pd.Categorical:
    """Name each pair by its length in tokens, e.g. ``33-64``; beyond the last edge, ``4097+``."""
    labels = [f"{low + 1}-{high}" for low, high in itertools.pairwise(TOKEN_EDGES)]
    labels.append(f"{TOKEN_EDGES[-1] + 1}+")
    return pd.cut(np.asarray(tokens), [*TOKEN_EDGES, np.inf], labels=labels, ordered=True)


def bucket_order(names: list[str] | dict) -> list[str]:
    """Bucket names in reading order: length buckets as listed, token buckets by size.

    metrics.json sorts its keys as text ("129-256" before "33-64"), so readers re-order them.
    """

    def key(name: str) -> tuple[int, int]:
        if name in LENGTH_BUCKETS:
            return 0, LENGTH_BUCKETS.index(name)
        return 1, int(name.split("-")[0].rstrip("+"))

    return sorted(names, key=key)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


def calibration(margins: np.ndarray, bins: int) -> tuple[pd.DataFrame, float]:
    """Reliability table and expected calibration error of the Bradley-Terry probabilities.

    A reward model trained with -log sigmoid(margin) claims P(chosen preferred) = sigmoid(margin).
    Every held-out pair *is* chosen-preferred, so that claim is folded onto the model's own pick:
    confidence = sigmoid(|margin|) in [0.5, 1], correct = margin > 0 (a tie is wrong). Pairs are
    binned by confidence into ``bins`` equal bins; a calibrated model is right in about as many
    pairs of a bin as its mean confidence there. ECE is the pair-weighted mean of the gaps.
    """
    margins = np.asarray(margins, dtype=float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    frame = pd.DataFrame(
        {
            "confidence": sigmoid(np.abs(margins)),
            "correct": margins > 0,
        }
    )
    frame["bin"] = pd.cut(frame["confidence"], edges, include_lowest=True, labels=False)
    grouped = frame.groupby("bin")
    table = pd.DataFrame(
        {
            "low": edges[:-1],
            "high": edges[1:],
            "pairs": grouped.size().reindex(range(bins), fill_value=0).to_numpy(),
            "predicted": grouped["confidence"].mean().reindex(range(bins)).to_numpy(),
            "observed": grouped["correct"].mean().reindex(range(bins)).to_numpy(),
        }
    )
    filled = table[table["pairs"] > 0]
    gaps = (filled["observed"] - filled["predicted"]).abs()
    ece = float((gaps * filled["pairs"]).sum() / max(len(margins), 1))
    return table, ece


def top_credit(scores: np.ndarray, num_correct: int) -> float:
    """Best-of-N credit of one prompt: the chance that a pick among its top-scoring completions
    (the first ``num_correct`` of ``scores`` being correct) is a correct one.

    With one correct completion this is RewardBench 2's rule (``reroll_and_score_dataset``):
    1 / (completions tied at the top) when the correct one is among them, else 0. With several,
    each completion tied at the top carries an equal share and the correct ones' shares count.
    """
    scores = np.asarray(scores, dtype=float)
    top = scores == scores.max()
    return float(top[:num_correct].sum() / top.sum())


def bootstrap_mean_ci(
    values: np.ndarray, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of a mean of per-item values that take few distinct values (a
    best-of-N credit: 0, 1/2, 1/3, ..., 1).

    Resampling n items with replacement draws each distinct value Multinomial(n, its share)
    times, so drawing those counts is the same bootstrap as resampling indices, in memory that
    does not grow with n (the idea of :func:`bootstrap_ci`, for more than two values).
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return 0.0, 0.0
    distinct, counts = np.unique(values, return_counts=True)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(values.size, counts / values.size, size=resamples)
    means = drawn @ distinct / values.size
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
