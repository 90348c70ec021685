"""The rows of ``rewardlab score``: read and checked before any model loads, and written back.

A row is a pair (``prompt``, ``chosen``, ``rejected``), a single response (``prompt``,
``response``), RewardBench 2's lists of correct and incorrect completions (``chosen`` and
``rejected`` lists), or a list of responses (``responses``). Every response of every row is
flattened into one list of (prompt, response), so the model scores them all in one pass of
length-sorted batches, and the rewards go back to their rows in the same order. A malformed row
stops everything, naming its line, before any output is written.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.core.errors import UserError
from rewardlab.core.outputs import atomic_file
from rewardlab.data.rendering import Content
from rewardlab.data.sources import jsonl, local
from rewardlab.evaluation.bestofn import is_completion_list
from rewardlab.evaluation.stats import bootstrap_ci, bootstrap_mean_ci, top_credit, win_rate

FORMATS = (".jsonl", ".csv")
DIGITS = 6  # as in reports/scores.jsonl, so the two can be compared value for value
CI_RESAMPLES, CI_SEED = 10000, 0


def read_rows(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows of a .jsonl or .csv file, with the line each row ends on (for error messages).

    A missing path is said to be missing before its file type is judged, and a file of no rows
    says what it holds (0 bytes, blank lines, a header), as prepare says it of ``data.source``.
    """
    if not path.exists():
        raise UserError(f"--input {path}: no such file or folder{local.where(str(path))}.")
    if path.is_dir():
        raise UserError(f"--input {path}: is a folder; give a {' or '.join(FORMATS)} file.")
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"--input {path}: use a {' or '.join(FORMATS)} file.")
    if found := local.file_emptiness(path):  # a BOM-only line would read as bad JSON
        raise UserError(f"--input {path}: {found}; no rows to score.")
    rows, lines = [], []
    if path.suffix.lower() == ".jsonl":
        try:
            for number, row in jsonl.records(path):
                rows.append(row)
                lines.append(number)
        except ValueError as exc:
            raise UserError(f"{path}, {exc}.") from None
    else:
        # utf-8-sig: a spreadsheet's byte-order mark must not become the first column's name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                if None in row:  # DictReader files surplus cells under the key None
                    raise UserError(
                        f"{path}, line {reader.line_num}: more cells than the header's "
                        f"{len(reader.fieldnames or [])} columns."
                    )
                rows.append(row)
                lines.append(reader.line_num)
    if not rows:
        raise UserError(f"--input {path}: holds no rows to score.")
    return rows, lines


def texts(
    rows: list[dict], lines: list[int], columns: Sequence[str], path: Path
) -> dict[str, list[Content]]:
    """The named columns as texts or message lists; a row lacking one stops with its line."""
    out: dict[str, list[Content]] = {column: [] for column in columns}
    for row, number in zip(rows, lines, strict=True):
        for column in columns:
            value = row.get(column)
            if not (isinstance(value, str) or _is_messages(value)):
                problem = (
                    "missing"
                    if value is None
                    else f"not text nor a list of {{role, content}} messages "
                    f"({type(value).__name__})"
                )
                raise UserError(f"{path}, line {number}: column {column!r} is {problem}.")
            out[column].append(value)
    return out


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    )


def choose_mode(rows: list[dict], args: argparse.Namespace) -> tuple[str, ...]:
    """Pairs when the first row has chosen and rejected columns, else single responses, else a
    list of responses."""
    present = set(rows[0])
    pair = (args.prompt_column, args.chosen_column, args.rejected_column)
    single = (args.prompt_column, args.response_column)
    many = (args.prompt_column, args.responses_column)
    for columns in (pair, single, many):
        if set(columns) <= present:
            return columns
    raise UserError(
        f"--input {args.input}: found columns {', '.join(rows[0])}; need "
        f"{', '.join(pair)} (pairs, or lists of completions), {', '.join(single)} (responses) "
        f"or {', '.join(many)} (a list of responses). Map other names with --prompt-column, "
        "--chosen-column, --rejected-column, --response-column or --responses-column."
    )


def is_listed(rows: list[dict], columns: Sequence[str], args: argparse.Namespace) -> bool:
    """Whether the rows hold lists of completions: a ``responses`` column, or RewardBench 2's
    chosen/rejected lists (a list of messages is one conversational answer, not a list)."""
    return columns[-1] == args.responses_column or is_completion_list(rows[0].get(columns[1]))


def completion_lists(
    rows: list[dict], lines: list[int], columns: Sequence[str], path: Path
) -> dict[str, list[list[Content]]]:
    """The named list columns, each completion a text or a message list; the first bad row
    stops with its line."""
    prompts = texts(rows, lines, columns[:1], path)[columns[0]]
    out: dict[str, list] = {columns[0]: prompts}
    for column in columns[1:]:
        out[column] = []
        for row, number in zip(rows, lines, strict=True):
            value = row.get(column)
            if not is_completion_list(value) or not all(
                isinstance(c, str) or _is_messages(c) for c in value
            ):
                raise UserError(
                    f"{path}, line {number}: column {column!r} is not a non-empty list of texts "
                    "or of {role, content} message lists."
                )
            out[column].append(value)
    return out


def flatten(
    values: dict[str, list], columns: Sequence[str], listed: bool
) -> tuple[list[Content], list[Content]]:
    """(prompt, response) of every response to score, column by column, row by row: one pass of
    length-sorted batches for all of them, as evaluate does."""
    prompts, responses = [], []
    for column in columns[1:]:
        for prompt, cell in zip(values[columns[0]], values[column], strict=True):
            for response in cell if listed else [cell]:
                prompts.append(prompt)
                responses.append(response)
    return prompts, responses


def listed_rows(
    rows: list[dict], values: dict[str, list], columns: Sequence[str], flat: list[float]
) -> list[dict]:
    """Each row with a reward list per list column (``chosen_rewards``/``rejected_rewards``, or
    ``rewards`` for a responses column), from the rewards in :func:`flatten`'s order; prints the
    best-of-N accuracy of chosen/rejected lists, or the mean reward."""
    names = {column: "rewards" if len(columns) == 2 else f"{column}_rewards"
             for column in columns[1:]}  # fmt: skip
    added: list[dict] = [{} for _ in rows]
    rest = iter(round(r, DIGITS) for r in flat)
    for column in columns[1:]:
        for fields, completions in zip(added, values[column], strict=True):
            fields[names[column]] = [next(rest) for _ in completions]
    if len(columns) == 2:
        print(f"score: {len(rows)} rows, {len(flat)} responses, mean reward {np.mean(flat):.4f}")
    else:
        chosen, rejected = (names[column] for column in columns[1:])
        credit = np.asarray([top_credit(a[chosen] + a[rejected], len(a[chosen])) for a in added])
        low, high = bootstrap_mean_ci(credit, CI_RESAMPLES, CI_SEED)
        print(
            f"score: {len(rows)} prompts, best-of-N accuracy {credit.mean():.3f} (95% CI "
            f"{low:.3f}-{high:.3f}; ties at the top share the credit)"
        )
    return [{**row, **fields} for row, fields in zip(rows, added, strict=True)]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".jsonl":
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def scored_rows(
    rows: list[dict],
    values: dict[str, list],
    columns: Sequence[str],
    flat: list[float],
    listed: bool,
) -> list[dict]:
    """Each row with its rewards (in :func:`flatten`'s order), and the summary printed: a
    pair's ``chosen_reward``, ``rejected_reward`` and ``margin`` with the win rate, a single
    response's ``reward`` with the mean, a list's rewards as :func:`listed_rows` gives them."""
    if listed:
        return listed_rows(rows, values, columns, flat)
    rewards = [
        [round(r, DIGITS) for r in flat[i : i + len(rows)]] for i in range(0, len(flat), len(rows))
    ]
    if len(rewards) == 1:
        print(f"score: {len(rows)} responses, mean reward {np.mean(rewards[0]):.4f}")
        return [{**row, "reward": r} for row, r in zip(rows, rewards[0], strict=True)]
    chosen, rejected = np.asarray(rewards)
    low, high = bootstrap_ci(chosen > rejected, CI_RESAMPLES, CI_SEED)
    print(
        f"score: {len(rows)} pairs, win rate {win_rate(chosen, rejected):.3f} "
        f"(95% CI {low:.3f}-{high:.3f}; ties count as losses)"
    )
    return [
        {**row, "chosen_reward": c, "rejected_reward": r, "margin": round(c - r, DIGITS)}
        for row, c, r in zip(rows, *rewards, strict=True)
    ]
