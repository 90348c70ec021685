"""Is run B better than run A? Paired tests on the pairs both runs scored.

Two win rates with their own CIs side by side overstate the noise of a comparison: both runs
scored the same pairs, and most pairs are won (or lost) by both. The difference B - A is decided
by the *discordant* pairs only -- those one run wins and the other loses -- so everything here
works on the two runs' per-pair outcomes, matched by content id (``pair_scores.pair_id``):

* the paired difference of win rates, with a paired-bootstrap 95% CI (pairs resampled jointly);
* the two-sided exact McNemar p-value: under "no difference", each discordant pair is equally
  likely to favour A or B, so the count favouring B is Binomial(discordant, 1/2);
* the smallest difference this many pairs could detect (80% power, alpha = 0.05), so that "no
  detectable difference" says how large a difference would have been seen;
* per category, the same with Holm-corrected p-values (many categories, many chances of a fluke).

A pair is won when reward(chosen) > reward(rejected); a tie is a loss, as in ``stats.wins``.

A best-of-N prompt's outcome is its credit (``stats.top_credit``), which is fractional when
completions tie at the top. Rates, the difference, its paired-bootstrap CI and the detectable
difference are taken on the credit itself, so they agree with ``win_rate`` in metrics.json;
McNemar's test needs two outcomes per run, so it counts a prompt as *right* only with full credit
(its correct completion alone at the top): a tie at the top is "not right", as a tied pair loses.
For pairs (credit 0 or 1) both readings are the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from rewardlab.evaluation.stats import bootstrap_mean_ci, wins
from rewardlab.evaluation.summary import DIGITS

MIN_PAIRS = 20  # fewer shared pairs than this: "not comparable" (no test has power there)
ALPHA = 0.05
POWER = 0.8
RESAMPLES = 10_000
SEED = 0


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (McNemar 1947).

    ``a_only``: pairs A wins and B loses; ``b_only``: the reverse. Conditional on their sum n,
    ``b_only`` is Binomial(n, 1/2) under no difference, so p = 2 * P(X <= min) capped at 1, the
    binomial test. Computed in exact integers (a running C(n, k)), so it stays exact for any n
    where the chi-square approximation would not.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts cannot be negative")
    n, low = a_only + b_only, min(a_only, b_only)
    if n == 0 or 2 * low == n:
        return 1.0
    term = total = 1  # C(n, 0)
    for k in range(1, low + 1):
        term = term * (n - k + 1) // k
        total += term
    return min(1.0, 2 * total / (1 << n))  # int / int: Python rounds it correctly, any size


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6:65-70), in the order
    given; ``None`` (a test not run) stays ``None`` and does not count towards the family.

    The k-th smallest of m p-values is multiplied by m - k + 1, and adjusted values are made
    non-decreasing in that order and capped at 1: rejecting where the adjusted p < alpha keeps the
    chance of any false "detected" among the categories at most alpha, without Bonferroni's loss.
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def _discordant(a_won: np.ndarray, b_won: np.ndarray) -> tuple[int, int, int]:
    """Pairs, A-only and B-only *right* outcomes (full credit: 1 or True)."""
    a_won, b_won = np.asarray(a_won) == 1, np.asarray(b_won) == 1
    if a_won.shape != b_won.shape:
        raise ValueError("a paired comparison needs one outcome of each run per pair")
    return a_won.size, int((a_won & ~b_won).sum()), int((b_won & ~a_won).sum())


def _binary(*outcomes: np.ndarray) -> bool:
    return all(np.isin(np.asarray(o, dtype=float), (0.0, 1.0)).all() for o in outcomes)


def paired_bootstrap_ci(
    a_won: np.ndarray, b_won: np.ndarray, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the paired difference mean(b_won) - mean(a_won).

    Pairs are resampled jointly (both runs' outcomes of a pair travel together; Efron and
    Tibshirani 1993, ch. 13). A resample's difference is (#B-only - #A-only) / n, and the counts
    of the three kinds of pair in n draws with replacement are Multinomial(n, observed shares):
    drawing them is the same bootstrap as resampling indices, in memory that does not grow with
    n. Identical outcomes give (0, 0). Fractional outcomes (best-of-N credit) are resampled the
    same way over the distinct values the per-pair difference takes.
    """
    n, a_only, b_only = _discordant(a_won, b_won)
    if n == 0:
        return 0.0, 0.0
    if not _binary(a_won, b_won):
        d = np.asarray(b_won, dtype=float) - np.asarray(a_won, dtype=float)
        return bootstrap_mean_ci(d, resamples, seed, level)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [a_only / n, b_only / n, 1 - (a_only + b_only) / n], resamples)
    differences = (counts[:, 1] - counts[:, 0]) / n
    low, high = np.quantile(differences, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def smallest_significant_count(alpha: float = ALPHA) -> int:
    """The fewest discordant pairs, all favouring one run, that the exact test calls significant
    (6 at alpha = 0.05: p = 2 / 2^6 = 0.031, while 5 give 0.0625). No difference of fewer pairs can
    ever be detected, whatever the rest of the table."""
    count = 1
    while mcnemar_exact(0, count) >= alpha:
        count += 1
    return count


def detectable_difference(
    a_won: np.ndarray, b_won: np.ndarray, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest difference of win rates these pairs could detect, two-sided.

    The normal-approximation minimum detectable effect of a paired design,
    MDE = (z_(1-alpha/2) + z_power) * sd(d) / sqrt(n) (Bloom 1995, "Minimum detectable effects",
    Evaluation Review 19:547-556), with d the per-pair difference b_won - a_won in {-1, 0, 1} and
    its observed sd: sd^2 = discordant share - difference^2, the variance McNemar's test works with
    (Connor 1987, Biometrics 43:207-211, for the paired-proportions sample size). With 80% power
    and alpha = 0.05 the multiplier is 2.80. It is floored at the difference the exact test can
    detect at all (:func:`smallest_significant_count` pairs out of n): with few discordant pairs
    the approximation would promise less than any table of n pairs can show. For best-of-N
    credit, d is the per-prompt difference of credits and sd its observed sd.
    """
    n, _, _ = _discordant(a_won, b_won)
    if n == 0:
        return math.inf
    d = np.asarray(b_won, dtype=float) - np.asarray(a_won, dtype=float)
    sd = float(d.std())  # sqrt(discordant share - difference^2)
    normal = NormalDist()
    multiplier = normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)
    return max(multiplier * sd / math.sqrt(n), smallest_significant_count(alpha) / n)


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), DIGITS)


def compare_outcomes(
    a_won: np.ndarray, b_won: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """The figures of one paired comparison (a set, or a category of one); below
    :data:`MIN_PAIRS` shared pairs only the counts and rates, flagged not comparable."""
    n, a_only, b_only = _discordant(a_won, b_won)
    a_rate = float(np.mean(a_won)) if n else None
    b_rate = float(np.mean(b_won)) if n else None
    block: dict[str, Any] = {
        "pairs": n,
        "comparable": n >= MIN_PAIRS,
        "a_win_rate": _round(a_rate),
        "b_win_rate": _round(b_rate),
        "difference": _round(b_rate - a_rate) if n else None,
        "discordant": {"a_only": a_only, "b_only": b_only},
        "difference_ci95": {"low": None, "high": None},
        "p_value": None,
        "detectable_difference": None,
    }
    if n >= MIN_PAIRS:
        low, high = paired_bootstrap_ci(a_won, b_won, resamples, seed)
        block["difference_ci95"] = {"low": _round(low), "high": _round(high)}
        block["p_value"] = _round(mcnemar_exact(a_only, b_only))
        block["detectable_difference"] = _round(detectable_difference(a_won, b_won))
    return block


def match_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The pairs both runs scored, matched by id: ``a_won``, ``b_won`` (a best-of-N prompt's
    credit) and ``category`` (A's, else B's), in A's order. Frames as
    ``pair_scores.read_pair_scores`` returns them."""
    merged = a.merge(b, on="id", how="inner", suffixes=("_a", "_b"), validate="one_to_one")
    return pd.DataFrame(
        {
            "id": merged["id"],
            "a_won": _outcomes(merged, "_a"),
            "b_won": _outcomes(merged, "_b"),
            "category": merged["category_a"].combine_first(merged["category_b"]),
        }
    )


def _outcomes(merged: pd.DataFrame, side: str) -> np.ndarray:
    won = wins(merged[f"chosen_reward{side}"], merged[f"rejected_reward{side}"])
    credit = merged.get(f"credit{side}")
    if credit is None or credit.isna().all():
        return won
    return np.where(credit.notna(), credit.to_numpy(dtype=float), won.astype(float))


def compare_sets(
    a: pd.DataFrame, b: pd.DataFrame, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """One set of both runs compared: its figures, the pairs only one run has, and per category
    the same figures with Holm-corrected p-values (``p_value_unadjusted`` keeps the raw one)."""
    matched = match_pairs(a, b)
    block = compare_outcomes(matched["a_won"], matched["b_won"], resamples, seed)
    block["only_in_a"] = len(a) - len(matched)
    block["only_in_b"] = len(b) - len(matched)
    labelled = matched[matched["category"].notna()]
    categories = {
        str(name): compare_outcomes(group["a_won"], group["b_won"], resamples, seed)
        for name, group in labelled.groupby("category", sort=True)
    }
    raw = [category["p_value"] for category in categories.values()]
    for category, adjusted in zip(categories.values(), holm(raw), strict=True):
        category["p_value_unadjusted"] = category["p_value"]
        category["p_value"] = _round(adjusted)
        category["verdict"] = verdict(category)
    block["by_category"] = categories
    block["verdict"] = verdict(block)
    return block


def compare_runs(
    a: Mapping[str, pd.DataFrame],
    b: Mapping[str, pd.DataFrame],
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """Every set of either run: compared where both have it, else flagged with the run it is
    missing from. The headline split ``test`` first, then the rest by name."""
    names = sorted(set(a) | set(b), key=lambda name: (name != "test", name))
    sets: dict[str, Any] = {}
    for name in names:
        if name in a and name in b:
            sets[name] = compare_sets(a[name], b[name], resamples, seed)
        else:
            block = compare_outcomes(np.zeros(0, bool), np.zeros(0, bool))
            block["missing_from"] = "B" if name in a else "A"
            block["by_category"] = {}
            block["verdict"] = verdict(block)
            sets[name] = block
    return {"sets": sets}


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def verdict(block: dict[str, Any]) -> str:
    """What one comparison says, in words: the difference, its CI, p, the pairs, the call."""
    if "missing_from" in block:
        return f"not comparable: scored by {'A' if block['missing_from'] == 'B' else 'B'} only"
    if not block["comparable"]:
        return f"not comparable: {block['pairs']} shared pairs (at least {MIN_PAIRS} needed)"
    ci = block["difference_ci95"]
    figures = (
        f"B - A = {_signed(block['difference'])} "
        f"(95% CI {_signed(ci['low'])} to {_signed(ci['high'])}), "
        f"{_p_text(block['p_value'])} over {block['pairs']} pairs"
    )
    if block["p_value"] < ALPHA:
        call = "B is better" if block["difference"] > 0 else "B is worse"
    else:
        call = f"no detectable difference (could detect >= {block['detectable_difference']:.3f})"
    return f"{figures}; {call}"
