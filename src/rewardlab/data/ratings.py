"""Preference pairs from rated completions: a prompt with several completions and a score each.

The richest public preference data rates four or more completions per prompt (UltraFeedback's
raw ``completions``, each with a ``response`` and an ``overall_score``; any set with a list of
responses and a list of scores). ``data.pairs_from`` turns each such row into pairs before
prepare cleans them as it cleans any pairwise row:

* ``best_vs_worst``: one pair, the best completion against the worst;
* ``best_vs_rest``: the best against each other completion;
* ``all``: every two completions of different scores, the higher-scored one chosen.

"The best" (or worst) is the first completion in the list with the highest (lowest) score, so
the pairs are the same on every run. Two completions of equal score never make a pair: each such
candidate pair is counted as a ``tie`` drop. With ``data.pairs_margin`` the score difference
(times ``data.margin_scale``) becomes the pair's margin for TRL's margin loss.

Every candidate pair is one row of prepare's counts; a source row that yields none (no prompt,
no list of completions, scores that are not numbers or not one per completion, fewer than two
completions) counts once, under its reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardlab.core.errors import UserError
from rewardlab.core.params import DataParams
from rewardlab.data.formats import Dropped, to_margin

ROW = "_source_row"
"""Carried on each candidate pair through cleaning: the source row it came from, for the
``pairs_per_prompt`` histogram and for pointing a person at a row. Removed before writing."""


@dataclass
class Expanded:
    """The candidate pairs of a set of rated completions, and the rows that gave none."""

    pairs: list[dict[str, Any]]
    source_rows: int
    dropped: Counter[str] = field(default_factory=Counter)
    first_dropped: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """Reason → (source row, column, detail) of its first occurrence."""
    completions: Counter[int] = field(default_factory=Counter)
    """Completions per source row that was read → how many rows had that many."""


def candidate_pairs(scores: Sequence[float], mode: str) -> tuple[list[tuple[int, int]], int]:
    """(chosen, rejected) completion indices for ``mode``, and how many candidates were ties."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    if mode == "best_vs_worst":
        candidates = [(best, worst)]
    elif mode == "best_vs_rest":
        candidates = [(best, j) for j in range(len(scores)) if j != best]
    else:
        candidates = [(i, j) for i in range(len(scores)) for j in range(i + 1, len(scores))]
    pairs = [
        (i, j) if scores[i] > scores[j] else (j, i) for i, j in candidates if scores[i] != scores[j]
    ]
    return pairs, len(candidates) - len(pairs)


def expand(rows: Sequence[dict[str, Any]], data: DataParams) -> Expanded:
    """Every candidate pair of every row, with the row's other columns (category, group)."""
    if rows and not any("prompt" in row for row in rows):
        raise UserError(
            f"prepare: data.columns.prompt = {data.columns.prompt!r} is not a column of "
            f"{data.source!r}; map data.columns.prompt to the column holding each row's prompt "
            "(UltraFeedback's raw rows: instruction)."
        )
    out = Expanded([], len(rows))
    for number, row in enumerate(rows):
        rated = read_rated(row, data)
        if isinstance(rated, Dropped):
            out.dropped[rated.reason] += 1
            column = getattr(data.columns, rated.column, None) or rated.column
            out.first_dropped.setdefault(rated.reason, (number, column, rated.detail))
            continue
        texts, scores = rated
        out.completions[len(texts)] += 1
        pairs, ties = candidate_pairs(scores, data.pairs_from or "all")
        if ties:
            out.dropped["tie"] += ties
            out.first_dropped.setdefault("tie", (number, data.columns.completion_scores, ""))
        extras = {k: v for k, v in row.items() if k not in ("completions", "completion_scores")}
        for chosen, rejected in pairs:
            pair = {**extras, "chosen": texts[chosen], "rejected": texts[rejected], ROW: number}
            if data.pairs_margin:
                pair["margin"] = (scores[chosen] - scores[rejected]) * data.margin_scale
            out.pairs.append(pair)
    return out


def read_rated(row: Mapping[str, Any], data: DataParams) -> tuple[list, list[float]] | Dropped:
    """The row's completions and their scores, or why it has none to pair."""
    columns = data.columns
    completions = row.get("completions")
    if row.get("prompt") is None:
        return Dropped("missing", "prompt")
    if completions is None:
        return Dropped("missing", "completions")
    if not isinstance(completions, list):
        found = type(completions).__name__
        return Dropped("bad_completions", "completions", f"a {found}, not a list")
    if columns.completion_text is not None:
        return _read_mappings(completions, columns.completion_text, columns.completion_scores)
    if any(isinstance(item, Mapping) for item in completions):
        return Dropped(
            "bad_completions",
            "completions",
            "the completions are mappings: name their text field in data.columns.completion_text",
        )
    scores = row.get("completion_scores")
    if not isinstance(scores, list):
        found = "nothing" if scores is None else f"a {type(scores).__name__}"
        return Dropped("bad_scores", "completion_scores", f"{found}, not a list of numbers")
    if len(scores) != len(completions):
        detail = f"{len(completions)} completions, {len(scores)} scores"
        return Dropped("bad_scores", "completion_scores", detail)
    return _checked(list(completions), scores)


def _read_mappings(items: list, text: str, score: str | None) -> tuple[list, list[float]] | Dropped:
    """UltraFeedback's layout: each completion a mapping holding its text and its score."""
    for position, item in enumerate(items):
        if not isinstance(item, Mapping) or item.get(text) is None:
            fields = ", ".join(item) if isinstance(item, Mapping) else type(item).__name__
            detail = f"completion {position} has no field {text!r} ({fields})"
            return Dropped("bad_completions", "completion_text", detail)
    return _checked([item[text] for item in items], [item.get(score) for item in items])


def _checked(texts: list, raw: list) -> tuple[list, list[float]] | Dropped:
    scores = [to_margin(value) for value in raw]
    for position, (value, score) in enumerate(zip(raw, scores, strict=True)):
        if score is None:
            detail = f"completion {position}'s score is {value!r}, not a finite number"
            return Dropped("bad_scores", "completion_scores", detail)
    if len(texts) < 2:
        return Dropped("few_completions", "completions", f"{len(texts)} completion(s)")
    return texts, scores  # type: ignore[return-value]


def pairs_per_prompt(kept: Sequence[dict[str, Any]], source_rows: int) -> dict[str, int]:
    """How many source rows (prompts) gave how many of the pairs prepare kept, ``0`` included."""
    per_row = Counter(pair[ROW] for pair in kept)
    histogram = Counter(per_row[number] for number in range(source_rows))
    return {str(n): histogram[n] for n in sorted(histogram)}


def ratings_stats(expanded: Expanded, kept: Sequence[dict[str, Any]], data: DataParams) -> dict:
    """What ``stats.json`` says about the rated rows (``ratings``)."""
    return {
        "pairs_from": data.pairs_from,
        "source_rows": expanded.source_rows,
        "candidate_pairs": len(expanded.pairs) + expanded.dropped["tie"],
        "ties": expanded.dropped["tie"],
        "completions_per_prompt": {str(n): c for n, c in sorted(expanded.completions.items())},
        "pairs_per_prompt": pairs_per_prompt(kept, expanded.source_rows),
    }
