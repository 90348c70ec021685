"""Stage 1, prepare: raw preference pairs → clean, formatted, split ``data/prepared/``.

Rows that cannot teach a preference (a missing or empty side, identical sides, repeats) are
dropped and counted by reason, so ``stats.json`` says exactly what happened to the data.
The split is seeded, unlike the tutorial's, so the held-out set is the same on every run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from rewardlab.errors import UserError, run_main
from rewardlab.outputs import atomic_dir
from rewardlab.params import PrepareParams, params_from_argv
from rewardlab.paths import PREPARED_DIR
from rewardlab.sources.loading import PAIR_COLUMNS, load_pairs
from rewardlab.splitting import split_rows

DROP_REASONS = ("missing", "non_string", "empty", "identical", "duplicate")


def drop_reason(row: dict[str, Any]) -> str | None:
    """Why a pair is unusable, or None when it is fine."""
    values = [row.get(column) for column in PAIR_COLUMNS]
    if any(value is None for value in values):
        return "missing"
    if any(not isinstance(value, str) for value in values):
        return "non_string"
    if any(not value.strip() for value in values):
        return "empty"
    if row["chosen"].strip() == row["rejected"].strip():
        return "identical"
    return None


def clean_pairs(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, str]], Counter[str]]:
    """Keep usable, first-seen pairs; count every dropped row by reason."""
    kept, seen, dropped = [], set(), Counter({reason: 0 for reason in DROP_REASONS})
    for row in rows:
        reason = drop_reason(row)
        key = tuple(row.get(column) for column in PAIR_COLUMNS)
        if reason is None and key in seen:
            reason = "duplicate"
        if reason:
            dropped[reason] += 1
            continue
        seen.add(key)
        kept.append(dict(row))  # extra columns (category, topic, ...) travel along
    return kept, dropped


def format_pair(row: dict[str, str], template: str) -> dict[str, str]:
    """Add the model-facing texts: each response rendered with its prompt through the template."""
    return {
        **row,
        "chosen_text": template.format(prompt=row["prompt"], response=row["chosen"]),
        "rejected_text": template.format(prompt=row["prompt"], response=row["rejected"]),
    }


def prepare(rows: Dataset, params: PrepareParams) -> tuple[dict[str, list[dict]], dict]:
    """Clean, format and split; return the splits and the stats that describe them."""
    kept, dropped = clean_pairs(rows)
    rows_in, total_dropped = len(rows), sum(dropped.values())
    if not kept:
        raise UserError(
            f"prepare: no usable pairs left out of {rows_in} (dropped: {dict(dropped)})."
        )
    if total_dropped / rows_in > params.max_drop_fraction:
        raise UserError(
            f"prepare: {total_dropped} of {rows_in} rows dropped ({dict(dropped)}), more than "
            f"prepare.max_drop_fraction = {params.max_drop_fraction}. Check data.columns."
        )
    formatted = [format_pair(row, params.template) for row in kept]
    splits, split_by = split_rows(
        formatted, params.test_size, params.seed, params.group_column, params.seen_test_size
    )
    stats = {
        "rows_in": rows_in,
        "rows_out": len(kept),
        "rows_dropped": total_dropped,
        "dropped": dict(dropped),
        **{f"{name}_pairs": len(rows) for name, rows in splits.items()},
        "split_by": split_by,
        "template": params.template,
    }
    return splits, stats


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    splits, stats = prepare(load_pairs(params.data), params.prepare)
    with atomic_dir(PREPARED_DIR) as out:
        for name, rows in splits.items():
            write_jsonl(out / f"{name}.jsonl", rows)
        (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    print(
        f"prepare: {stats['rows_in']} rows in, "
        + ", ".join(f"{len(rows)} {name}" for name, rows in splits.items())
        + f" pairs (split by {stats['split_by']}), dropped {stats['dropped']}"
    )


if __name__ == "__main__":
    run_main(main)
