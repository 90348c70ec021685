"""Cleaning preference rows: every layout into one canonical pair, every dropped row counted by
reason, and a message that points a person at the problem when too many are.

Used by the prepare stage for the training source (``preparation.py``) and by evaluation sets,
so a set is cleaned exactly as training data is. Rows of rated completions (``data.pairs_from``)
reach here already made into candidate pairs (``ratings.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardlab.core.errors import UserError
from rewardlab.core.params import DataParams, PrepareParams
from rewardlab.data.formats import (
    Dropped,
    Format,
    detect_format,
    drop_reasons,
    is_tie,
    normalise,
    to_margin,
)
from rewardlab.data.ratings import ROW

FORMAT_PARAM = "data.format"


DEFAULT_DATA = DataParams()


@dataclass
class Cleaned:
    """The usable pairs of one split, and what happened to the rest."""

    pairs: list[dict[str, Any]]
    rows_in: int
    dropped: Counter[str] = field(default_factory=Counter)
    first_dropped: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Reason → (row number, column) of its first occurrence, to point a person at it."""
    details: dict[str, str] = field(default_factory=dict)
    """Reason → what exactly was wrong at that first occurrence, when the reason alone is vague."""

    def stats(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": len(self.pairs),
            "rows_dropped": sum(self.dropped.values()),
            "dropped": {reason: self.dropped[reason] for reason in drop_reasons()},
        }


def choose_format(rows: Sequence[dict[str, Any]], requested: str) -> Format:
    """The set's format: the most common one among its rows, of the requested type if forced.

    A set no row of which fits is wrong as a whole: one message names the column, a row and the fix.
    """
    counts = Counter(fmt for row in rows if (fmt := detect_format(row)) is not None)
    if requested != "auto":
        counts = Counter({fmt: n for fmt, n in counts.items() if fmt.type == requested})
    if counts:
        return counts.most_common(1)[0][0]
    value = rows[0].get("chosen") if rows else None
    found = type(value).__name__ if value is not None else "nothing"
    wanted = "text or a list of {role, content} messages" if requested == "auto" else requested
    hint = (
        f"set {FORMAT_PARAM}: auto, or map data.columns.chosen to another column"
        if requested != "auto"
        else "map data.columns.chosen/rejected to the columns holding the answers"
    )
    raise UserError(
        f"prepare: column 'chosen' (data.columns.chosen) holds no {wanted} in any row "
        f"(row 0 holds {found}); {hint}."
    )


def clean_pairs(
    rows: Iterable[dict[str, Any]],
    fmt: Format,
    data: DataParams = DEFAULT_DATA,
    keep: Sequence[str] = (),
) -> Cleaned:
    """Keep usable, first-seen pairs in canonical form; count every dropped row by reason.

    ``keep`` names columns carried along as they are (the split's group column).
    """
    columns = data.columns
    cleaned, seen, rows_in = Cleaned([], 0), set(), 0
    for number, row in enumerate(rows):
        rows_in += 1
        if columns.tie is not None and is_tie(row.get("tie")):
            result: dict[str, Any] | Dropped = Dropped("tie", "tie")
        else:
            result = normalise(row, fmt)
        if not isinstance(result, Dropped):
            result = _with_extras(result, row, data)
        if not isinstance(result, Dropped):
            result.update({column: row[column] for column in keep if column in row})
        if not isinstance(result, Dropped):
            key = json.dumps([result[c] for c in ("prompt", "chosen", "rejected")])
            if key in seen:
                result = Dropped("duplicate", "chosen")
            seen.add(key)
        if isinstance(result, Dropped):
            cleaned.dropped[result.reason] += 1
            column = getattr(columns, result.column, None) or result.column
            cleaned.first_dropped.setdefault(result.reason, (row.get(ROW, number), column))
            continue
        cleaned.pairs.append(result)
    cleaned.rows_in = rows_in
    return cleaned


def _with_extras(
    pair: dict[str, Any], row: dict[str, Any], data: DataParams
) -> dict[str, Any] | Dropped:
    """Add ``category`` and ``margin`` when the params name their columns."""
    columns = data.columns
    if columns.category is not None or "category" in row:  # mapped, or the builtin's own
        value = row.get("category")
        pair["category"] = None if value is None else str(value)
    if data.pairs_margin:  # the score difference, computed by ratings.expand
        pair["margin"] = row["margin"]
    elif columns.margin is not None:
        margin = to_margin(row.get("margin"))
        if margin is None:
            return Dropped("bad_margin", "margin")
        pair["margin"] = margin
    elif columns.score_chosen is not None:
        scores = [to_margin(row.get(side)) for side in ("score_chosen", "score_rejected")]
        for side, score in zip(("score_chosen", "score_rejected"), scores, strict=True):
            if score is None:
                return Dropped("bad_margin", side)
        pair["margin"] = (scores[0] - scores[1]) * data.margin_scale
    return pair


def check_drops(cleaned: Cleaned, params: PrepareParams, split: str) -> None:
    """Fail, naming the main reason, its first row and the fix, when the set looks mis-mapped."""
    total = sum(cleaned.dropped.values())
    if cleaned.pairs and total / max(cleaned.rows_in, 1) <= params.max_drop_fraction:
        return
    reason, count = cleaned.dropped.most_common(1)[0] if total else ("", 0)
    counts = {r: n for r, n in cleaned.dropped.items() if n}
    where = ""
    if reason:
        number, column = cleaned.first_dropped[reason]
        detail = f" ({cleaned.details[reason]})" if cleaned.details.get(reason) else ""
        where = (
            f" Most were dropped as {reason!r} ({count}), first at row {number} in column "
            f"{column!r}{detail}: {drop_reasons()[reason]}."
        )
    if not cleaned.pairs:
        raise UserError(
            f"prepare: no usable pairs left in the {split} split out of {cleaned.rows_in} "
            f"(dropped: {counts}).{where}"
        )
    raise UserError(
        f"prepare: {total} of {cleaned.rows_in} rows dropped from the {split} split ({counts}), "
        f"more than prepare.max_drop_fraction = {params.max_drop_fraction}.{where}"
    )


def describe_drops(dropped: Counter[str] | dict[str, int]) -> str:
    """``dropped 12 (8 duplicate, 4 empty)``, or ``nothing dropped``: only the reasons that
    occurred, most common first, for a one-line summary (the full table is in stats.json)."""
    counts = sorted(((n, r) for r, n in dict(dropped).items() if n), key=lambda x: (-x[0], x[1]))
    if not counts:
        return "nothing dropped"
    reasons = ", ".join(f"{n} {reason}" for n, reason in counts)
    return f"dropped {sum(n for n, _ in counts)} ({reasons})"
