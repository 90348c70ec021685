"""Extra evaluation sets (``evaluate.sets``), made ready for scoring exactly as training data was.

A set is any preference data the pipeline reads (a local file or folder, or a Hub id, in any
layout prepare understands). It goes through the very functions training data goes through:
:mod:`rewardlab.sources.loading` reads it, prepare's cleaning drops unusable rows, featurize's
tokenizer code makes the ids. Only the rendering differs in where it is read from: the trained
model's metadata (its template and rendering), not today's params, so the model reads a set as
it read its training data even when the params have moved on since.

A set's ``category`` column (or, when ``columns.category`` is not set, a column named
``category`` or RewardBench's ``subset``) is kept, for per-category figures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from rewardlab.errors import UserError
from rewardlab.params import EvalSetParams, FeaturizeParams
from rewardlab.sources.loading import load_source, map_columns
from rewardlab.stages.featurize import tokenize_split
from rewardlab.stages.prepare import clean_pairs, format_pair

CATEGORY_COLUMNS = ("category", "subset")  # looked for when columns.category is not set
DATA_KEY = re.compile(r"\bdata\.(?=source|split|revision|format|columns)")


def load_evaluation_sets(
    specs: Mapping[str, EvalSetParams],
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    reserved: Iterable[str] = (),
) -> dict[str, Dataset]:
    """Every named set, tokenized; ``reserved`` are names already taken (held-out splits)."""
    taken = set(reserved)
    for name in specs:
        if name in taken:
            raise UserError(
                f"evaluate.sets.{name}: {name!r} is already the name of a held-out split in "
                "data/features, reported under sets by that name; give the set another name."
            )
    return {
        name: load_evaluation_set(name, spec, tokenizer, metadata) for name, spec in specs.items()
    }


def load_evaluation_set(
    name: str,
    spec: EvalSetParams,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
) -> Dataset:
    """Read, clean, render and tokenize one set; its rows keep their category."""
    key = f"evaluate.sets.{name}"
    rows = read_rows(spec, key)
    kept, dropped = clean_pairs(rows)
    if not kept:
        raise UserError(
            f"{key}: no usable pairs in {spec.source!r} ({len(rows)} rows, dropped: "
            f"{dict(dropped)}). Check {key}.columns."
        )
    rendered = Dataset.from_list(render_rows(rows, kept, metadata))
    # Truncated, never dropped: every pair of an evaluation set counts, as in the test split.
    budget = FeaturizeParams(max_length=metadata["max_length"], overflow="truncate")
    features, _ = tokenize_split(rendered, tokenizer, budget)
    print(f"evaluate: set {name!r}: {len(features)} pairs, dropped {dict(dropped)}")
    return features


def read_rows(spec: EvalSetParams, key: str) -> Dataset:
    """The set's rows with canonical column names, through the training data's loader."""
    try:
        raw = load_source(spec)
        category = spec.columns.category or next(
            (name for name in CATEGORY_COLUMNS if name in raw.column_names), None
        )
        columns = spec.columns.model_copy(update={"category": category})
        return map_columns(raw, spec.model_copy(update={"columns": columns}))
    except UserError as exc:  # the loader's messages name data.*; here the keys are the set's
        raise UserError(DATA_KEY.sub(f"{key}.", str(exc))) from None


def render_rows(rows: Dataset, kept: list[dict], metadata: dict[str, Any]) -> list[dict]:
    """The texts the model reads, rendered as featurize rendered them for training."""
    return [format_pair(row, metadata["template"]) for row in kept]
