"""``rewardlab score``: rewards for a file of pairs or of responses, from a trained reward model.

    rewardlab score --model models/reward_model --input pairs.jsonl --output scored.jsonl
    rewardlab score --model OpenAssistant/reward-model-deberta-v3-large-v2 \
        --model-input text_pair --input pairs.jsonl --output scored.jsonl

The input is ``.jsonl`` or ``.csv``. With ``prompt``, ``chosen`` and ``rejected`` columns every row
gets ``chosen_reward``, ``rejected_reward`` and ``margin``, and a summary (pairs, win rate with
its 95% CI) is printed; with ``prompt`` and ``response`` every row gets one ``reward``. Rows with
a *list* of completions (.jsonl) get one reward per completion, as lists in the same order:
RewardBench 2's rows (``chosen`` and ``rejected`` lists) get ``chosen_rewards`` and
``rejected_rewards``, with the best-of-N accuracy printed (a row is right when a correct
completion outscores every incorrect one; ties at the top share the credit); a ``responses``
list (``--responses-column``) gets ``rewards``. Other columns pass through. In .jsonl input a
prompt or response may also be a list of ``{"role", "content"}`` messages. A rewardlab model
renders texts as training rendered them (the role template or chat template in its metadata);
any other one-output classifier, a folder or a Hub id, reads them as ``--model-input`` says,
with the choices of ``evaluate.references`` (``--input`` is the file to score, hence the longer
name); lists of completions are read the same way, completion by completion. Rows are scored in
length-sorted batches without gradients and written in input order. A malformed row stops
everything, naming its line, before any output is written (``tools/score_rows.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.params import ReferenceInput, ReferenceParams
from rewardlab.model.references import (
    FLAG_NAMES,
    Reference,
    load_reference,
    score_pair_texts,
    score_texts,
)
from rewardlab.model.scoring import PRECISIONS
from rewardlab.tools.score_rows import (
    FORMATS,
    choose_mode,
    completion_lists,
    flatten,
    is_listed,
    read_rows,
    scored_rows,
    texts,
    write_rows,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rewardlab score", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--input", required=True, type=Path, help="rows to score (.jsonl or .csv)")
    parser.add_argument(
        "--output", required=True, type=Path, help="where to write (.jsonl or .csv)"
    )
    for name, what in (
        ("prompt", "the prompt"),
        ("chosen", "the preferred response (pairs)"),
        ("rejected", "the other response (pairs)"),
        ("response", "the one response to score (single responses)"),
        ("responses", "a list of responses to score (one reward each)"),
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


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model`` and how to read it: the same choices as ``evaluate.references``."""
    parser.add_argument(
        "--model",
        required=True,
        help="a rewardlab folder (models/reward_model, an export) or any one-output sequence "
        "classifier: a folder or a Hub id",
    )
    parser.add_argument(
        "--model-input",
        choices=get_args(ReferenceInput),
        default="auto",
        help="how the model reads a (prompt, response): auto (a rewardlab folder: its own "
        "contract; else chat_template when the tokenizer has one, else text_pair), "
        "chat_template, text_pair, or template (with --template)",
    )
    parser.add_argument("--template", help="role template for --model-input template")
    parser.add_argument("--revision", help="Hub id only: the model commit, tag or branch")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="run the model's own code (read it first)"
    )
    parser.add_argument(
        "--max-length", type=int, help="token budget (default: the model's own, at most 4096)"
    )


def open_model(args: argparse.Namespace, batch_size: int = 64) -> Reference:
    """The model ``--model`` names, read as ``--model-input`` says (``model/references.py``)."""
    try:
        spec = ReferenceParams(
            model=args.model,
            input=args.model_input,
            template=args.template,
            revision=args.revision,
            trust_remote_code=args.trust_remote_code,
            max_length=args.max_length,
            batch_size=batch_size,
        )
    except ValidationError as exc:
        reasons = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise UserError(f"--model {args.model}: {reasons}") from None
    return load_reference(spec, FLAG_NAMES)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.output.suffix.lower() not in FORMATS:  # before minutes of scoring, not after
        raise UserError(f"--output {args.output}: use a {' or '.join(FORMATS)} file.")
    rows, lines = read_rows(args.input)
    columns = choose_mode(rows, args)
    listed = is_listed(rows, columns, args)
    values = (completion_lists if listed else texts)(rows, lines, columns, args.input)
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: use 1 or more.")
    reference = open_model(args, args.batch_size)
    if listed or len(columns) == 2:
        # Every response of every row in one call, as evaluate does: one pass of length-sorted
        # batches (lists: completion by completion, each one sequence).
        flat = score_texts(reference, *flatten(values, columns, listed), args.precision)
    else:  # pairs as evaluate scores them (one row per pair where the model was trained so)
        sides = score_pair_texts(reference, *(values[c] for c in columns), args.precision)
        flat = [*sides[0], *sides[1]]
    write_rows(args.output, scored_rows(rows, values, columns, flat, listed))
    print(f"score: wrote {args.output}")


if __name__ == "__main__":
    run_main(main)
