"""Extra evaluation sets (``evaluate.sets``), made ready for scoring exactly as training data was.

A set is any preference data the pipeline reads (a local file or folder, or a Hub id, in every
layout prepare understands). It goes through the very functions the training data goes through:
``sources.loading`` reads it, prepare detects its format and cleans it, featurize renders and
tokenizes it. What featurize took from its params is taken from the trained model instead: the
base tokenizer and role template recorded in its metadata, and its chat template when it
rendered conversations; so the model reads a set as it read its training data.

A set's ``category`` column is kept for per-category figures; with ``columns.category`` unset, a
column named ``category`` or RewardBench's ``subset`` is used when the set has one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from rewardlab.core.errors import UserError
from rewardlab.core.params import DataParams, EvalSetParams, FeaturizeParams, ModelParams
from rewardlab.data.cleaning import choose_format, clean_pairs, describe_drops
from rewardlab.data.formats import Format
from rewardlab.data.rendering import rendering_spec
from rewardlab.data.sources.loading import load_pairs, map_columns, read_source
from rewardlab.data.tokenizing import APART, render_split, tokenize_split
from rewardlab.model.loading import load_tokenizer

CATEGORY_COLUMNS = ("category", "subset")  # looked for when columns.category is not set
# prepare's messages name the training data's keys; for a set, its own keys are meant.
DATA_KEY = re.compile(r"\bdata\.(?=source|split|revision|format|columns)")


def load_evaluation_sets(
    specs: Mapping[str, EvalSetParams],
    metadata: dict[str, Any],
    use_chat_template: bool,
    reserved: Iterable[str] = (),
) -> dict[str, Dataset]:
    """Every named set, tokenized for the trained model; ``reserved``: names already taken."""
    taken = set(reserved)
    for name in specs:
        if name in taken:
            raise UserError(
                f"evaluate.sets.{name}: {name!r} is already the name of a held-out split in "
                "data/features, reported under sets by that name; give the set another name."
            )
    if not specs:
        return {}
    tokenizer = load_tokenizer(ModelParams.model_validate(metadata["model"]))  # featurize's
    return {
        name: load_evaluation_set(name, spec, tokenizer, metadata, use_chat_template)
        for name, spec in specs.items()
    }


def load_evaluation_set(
    name: str,
    spec: EvalSetParams,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    use_chat_template: bool,
) -> Dataset:
    """Read, clean, render and tokenize one set; its rows keep their category."""
    key = f"evaluate.sets.{name}"
    try:
        rows, data = read_rows(spec, key)
        fmt = choose_format(rows, spec.format)
    except UserError as exc:  # prepare's words, for the set's keys
        message = DATA_KEY.sub(f"{key}.", str(exc)).removeprefix("prepare: ")
        raise UserError(message if message.startswith(key) else f"{key}: {message}") from None
    cleaned = clean_pairs(rows, fmt, data)
    if not cleaned.pairs:
        raise UserError(
            f"{key}: no usable pairs in {spec.source!r} ({cleaned.rows_in} rows, dropped: "
            f"{dict(+cleaned.dropped)}). Check {key}.columns and {key}.format."
        )
    rendering = set_rendering(fmt, tokenizer, metadata, use_chat_template)
    rendered = render_split(
        Dataset.from_list(cleaned.pairs),
        metadata["template"],
        rendering,
        tokenizer,
        apart=metadata.get("tokenization") == APART,  # prompt tokenized apart, as in training
    )
    # Truncated, never dropped: every pair of an evaluation set counts, as in the test split.
    budget = FeaturizeParams(max_length=metadata["max_length"], overflow="truncate")
    features, _ = tokenize_split(rendered, tokenizer, budget)
    print(
        f"evaluate: set {name!r}: {len(features)} pairs ({fmt.type}, {fmt.prompt} prompt); "
        f"{describe_drops(cleaned.dropped)}"
    )
    return features


def read_rows(spec: EvalSetParams, key: str) -> tuple[list[dict], DataParams]:
    """The set's rows under canonical column names, and the data params that describe them."""
    if spec.source == "builtin":
        load_pairs(spec, key=key)  # raises the loader's own message: builtin is data's only
    raw, _ = read_source(spec, spec.split, key)
    category = spec.columns.category or next(
        (name for name in CATEGORY_COLUMNS if name in raw.column_names), None
    )
    data = DataParams(
        source=spec.source,
        split=spec.split,
        revision=spec.revision,
        format=spec.format,
        columns=spec.columns.model_copy(update={"category": category}),
    )
    return map_columns(raw, data, key).to_list(), data


def set_rendering(
    fmt: Format,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    use_chat_template: bool,
) -> dict[str, Any]:
    """How featurize would have rendered this set for the trained model.

    A model trained on conversations recorded whether they went through a chat template, and
    which one: that choice is kept. Otherwise ``featurize.use_chat_template`` decides, as it
    would have in featurize.
    """
    trained = metadata.get("rendering") or {}
    if trained.get("format") == "conversational":
        use_chat_template = trained.get("chat_template") is not None
    rendering = rendering_spec(fmt.as_dict(), tokenizer, use_chat_template)
    if rendering["chat_template"] and trained.get("chat_template"):
        rendering["chat_template"] = trained["chat_template"]
    return rendering
