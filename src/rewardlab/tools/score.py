"""``rewardlab score``: rewards for a file of pairs or of responses, from a trained reward model.

    rewardlab score --model models/reward_model --input pairs.jsonl --output scored.jsonl

The input is ``.jsonl`` or ``.csv``. With ``prompt``, ``chosen`` and ``rejected`` columns every row
gets ``chosen_reward``, ``rejected_reward`` and ``margin``, and a summary (pairs, win rate with
its 95% CI) is printed; with ``prompt`` and ``response`` every row gets one ``reward``. Other
columns pass through. In .jsonl input a prompt or response may also be a list of
``{"role", "content"}`` messages. Texts are rendered as training rendered them (the role template
or chat template in the model's metadata), scored in length-sorted batches without gradients,
and written in input order. A malformed row stops everything, naming its line, before any output
is written.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_file
from rewardlab.data.rendering import Content
from rewardlab.data.sources import jsonl, local
from rewardlab.evaluation.stats import bootstrap_ci, win_rate
from rewardlab.model.loading import load_reward_model
from rewardlab.model.scoring import PRECISIONS, score_pair_responses, score_responses

FORMATS = (".jsonl", ".csv")
DIGITS = 6  # as in reports/scores.jsonl, so the two can be compared value for value
CI_RESAMPLES, CI_SEED = 10000, 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rewardlab score", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", required=True, help="trained model folder (models/reward_model)")
    parser.add_argument("--input", required=True, type=Path, help="rows to score (.jsonl or .csv)")
    parser.add_argument(
        "--output", required=True, type=Path, help="where to write (.jsonl or .csv)"
    )
    for name, what in (
        ("prompt", "the prompt"),
        ("chosen", "the preferred response (pairs)"),
        ("rejected", "the other response (pairs)"),
        ("response", "the one response to score (single responses)"),
    ):
        parser.add_argument(f"--{name}-column", default=name, help=f"input column with {what}")
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per batch")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="bf16: autocast, faster where the hardware has bf16 matmul; rewards round to bf16",
    )
    return parser.parse_args(argv)


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
    """Pairs when the first row has chosen and rejected columns, else single responses."""
    present = set(rows[0])
    pair = (args.prompt_column, args.chosen_column, args.rejected_column)
    single = (args.prompt_column, args.response_column)
    for columns in (pair, single):
        if set(columns) <= present:
            return columns
    raise UserError(
        f"--input {args.input}: found columns {', '.join(rows[0])}; need "
        f"{', '.join(pair)} (pairs) or {', '.join(single)} (responses). Map other names with "
        "--prompt-column, --chosen-column, --rejected-column or --response-column."
    )


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".jsonl":
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.output.suffix.lower() not in FORMATS:  # before minutes of scoring, not after
        raise UserError(f"--output {args.output}: use a {' or '.join(FORMATS)} file.")
    rows, lines = read_rows(args.input)
    columns = choose_mode(rows, args)
    values = texts(rows, lines, columns, args.input)
    sides = [values[column] for column in columns[1:]]  # [response] or [chosen, rejected]
    model, tokenizer, metadata = load_reward_model(args.model)
    prompts = values[columns[0]]
    # Pairs as evaluate scores them (one row per pair where the model was trained so).
    by_side = (
        score_pair_responses(
            model, tokenizer, metadata, prompts, *sides, args.batch_size, args.precision
        )
        if len(sides) == 2
        else [
            score_responses(
                model, tokenizer, metadata, prompts, sides[0], args.batch_size, args.precision
            )
        ]
    )
    rewards = [[round(r, DIGITS) for r in side] for side in by_side]
    if len(sides) == 1:
        scored = [{**row, "reward": r} for row, r in zip(rows, rewards[0], strict=True)]
        print(f"score: {len(rows)} responses, mean reward {np.mean(rewards[0]):.4f}")
    else:
        chosen, rejected = np.asarray(rewards)
        scored = [
            {**row, "chosen_reward": c, "rejected_reward": r, "margin": round(c - r, DIGITS)}
            for row, c, r in zip(rows, *rewards, strict=True)
        ]
        low, high = bootstrap_ci(chosen > rejected, CI_RESAMPLES, CI_SEED)
        print(
            f"score: {len(rows)} pairs, win rate {win_rate(chosen, rejected):.3f} "
            f"(95% CI {low:.3f}-{high:.3f}; ties count as losses)"
        )
    write_rows(args.output, scored)
    print(f"score: wrote {args.output}")


if __name__ == "__main__":
    run_main(main)
