"""What prepare makes of a source: its rows cleaned (rated completions made into pairs first),
split so that no held-out split shares a prompt with training, and the stats that say so.

``cleaning.py`` cleans rows, ``ratings.py`` makes pairs of rated completions and
``splitting.py`` splits; this puts them together for the training source and its test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasets import Dataset

from rewardlab.core.params import DataParams, PrepareParams
from rewardlab.data.cleaning import DEFAULT_DATA, Cleaned, check_drops, choose_format, clean_pairs
from rewardlab.data.formats import Format
from rewardlab.data.ratings import ROW, Expanded, expand, ratings_stats
from rewardlab.data.splitting import prompt_key, split_rows


def prepare_splits(
    rows: Dataset,
    params: PrepareParams,
    data: DataParams = DEFAULT_DATA,
    test_rows: Dataset | None = None,
) -> tuple[dict[str, list[dict]], dict]:
    """Clean and split; return the splits and the stats that describe them.

    ``test_rows`` (the source's own test split) is cleaned the same way and becomes ``test``;
    training pairs whose prompt it shares are dropped (``prompt_in_test``). Without it, a seeded
    ``prepare.test_size`` share of ``rows`` does, whole prompts at a time.
    """
    group = [params.group_column] if params.group_column else []
    cleaned, fmt, rated = clean_source(rows.to_list(), data, group)
    check_drops(cleaned, params, "train")
    if test_rows is not None:
        test, _, test_rated = clean_source(test_rows.to_list(), data, group, fmt)
        check_drops(test, params, "test")
        shared = _drop_shared_prompts(cleaned, test.pairs)
        if shared:
            check_drops(cleaned, params, "train")
        splits = {"train": cleaned.pairs, "test": test.pairs}
        stats: dict[str, Any] = {**cleaned.stats(), "format": fmt.as_dict()}
        stats["test_split"] = {
            "from": "data.test_split",
            "split": data.test_split,
            "shared_prompts": shared,
        }
        stats["test_rows"] = test.stats()
        if test_rated is not None:
            stats["test_rows"]["ratings"] = ratings_stats(test_rated, test.pairs, data)
    else:
        stats = {**cleaned.stats(), "format": fmt.as_dict()}
        splits, split_by = split_rows(
            cleaned.pairs, params.test_size, params.seed, params.group_column, params.seen_test_size
        )
        stats["test_split"] = {
            "from": "prepare.test_size",
            "test_size": params.test_size,
            "seed": params.seed,
        }
        stats["split_by"] = split_by
    if rated is not None:
        stats["ratings"] = ratings_stats(rated, cleaned.pairs, data)
    for split in splits.values():
        for pair in split:
            pair.pop(ROW, None)
    stats.update({f"{name}_pairs": len(pairs) for name, pairs in splits.items()})
    stats["prompts"] = {
        name: len({prompt_key(pair["prompt"]) for pair in pairs}) for name, pairs in splits.items()
    }
    every = [pair for split in splits.values() for pair in split]
    stats["margin"] = _optional_column_stats(every, "margin", _margin_source(data))
    stats["category"] = _optional_column_stats(every, "category", data.columns.category)
    return splits, stats


def clean_source(
    raw: list[dict[str, Any]], data: DataParams, keep: Sequence[str], fmt: Format | None = None
) -> tuple[Cleaned, Format, Expanded | None]:
    """One split's rows cleaned, in the given format or the one they show; rows of rated
    completions are expanded into candidate pairs first and their drops counted with the rest."""
    rated = None
    if data.pairs_from is not None:
        rated = expand(raw, data)
        raw = rated.pairs
        if fmt is None and not raw:  # every row dropped: check_drops says why
            fmt = Format("standard", "explicit")
    else:
        raw = [{**row, ROW: number} for number, row in enumerate(raw)]
    fmt = fmt or choose_format(raw, data.format)
    cleaned = clean_pairs(raw, fmt, data, keep=[*keep, ROW])
    if rated is not None:
        cleaned.rows_in += sum(rated.dropped.values())
        cleaned.dropped.update(rated.dropped)
        for reason, (number, column, detail) in rated.first_dropped.items():
            cleaned.first_dropped.setdefault(reason, (number, column))
            cleaned.details.setdefault(reason, detail)
    return cleaned, fmt, rated


def _drop_shared_prompts(train: Cleaned, test: list[dict[str, Any]]) -> int:
    """Take training pairs whose prompt is also a test prompt out (counted as ``prompt_in_test``);
    return how many distinct prompts the two splits shared."""
    test_prompts = {prompt_key(pair["prompt"]) for pair in test}
    kept, shared = [], set()
    for pair in train.pairs:
        key = prompt_key(pair["prompt"])
        if key not in test_prompts:
            kept.append(pair)
            continue
        shared.add(key)
        train.dropped["prompt_in_test"] += 1
        train.first_dropped.setdefault("prompt_in_test", (pair[ROW], "prompt"))
    train.pairs = kept
    return len(shared)


def _margin_source(data: DataParams) -> str | None:
    columns = data.columns
    if data.pairs_margin:
        return f"(chosen's {columns.completion_scores} - rejected's) * {data.margin_scale}"
    if columns.margin is not None:
        return columns.margin
    if columns.score_chosen is not None:
        return f"({columns.score_chosen} - {columns.score_rejected}) * {data.margin_scale}"
    return None


def _optional_column_stats(pairs: list[dict], column: str, source: str | None) -> dict | None:
    """Where an optional column came from and how many pairs carry a value for it."""
    if source is None:
        return None
    carried = sum(pair.get(column) is not None for pair in pairs)
    return {"from": source, "pairs": carried}
