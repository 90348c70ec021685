"""Extra evaluation sets (``evaluate.sets``), made ready for scoring exactly as training data was.

Reading and cleaning a set (:func:`read_evaluation_set`) needs no model, so the references stage
reads the very pairs evaluate scores without loading the trained model; rendering and tokenizing
for the trained model (:func:`tokenize_evaluation_set`) is the separate second step.

A set is any preference data the pipeline reads (a local file or folder, or a Hub id, in every
layout prepare understands). It goes through the very functions the training data goes through:
``sources.loading`` reads it, prepare detects its format and cleans it, featurize renders and
tokenizes it. What featurize took from its params is taken from the trained model instead: the
base tokenizer and role template recorded in its metadata, and its chat template when it
rendered conversations; so the model reads a set as it read its training data.

A set's ``category`` column is kept for per-category figures; with ``columns.category`` unset, a
column named ``category`` or RewardBench's ``subset`` is used when the set has one.

A set whose ``chosen`` and ``rejected`` hold *lists* of completions (RewardBench 2) is a best-of-N
set: reading tells it apart and ``evaluation/bestofn.py`` cleans it (its ``ReadSet`` has
``bestofn`` set and best-of-N rows in place of pairs); tokenizing renders its completions with
this module's ``set_rendering``, as a pairwise set of the same format would be, into a
``BestOfNSet``. Its ``id`` column, when it has one, is kept (RewardBench 2's Ties score reads it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from rewardlab.core.errors import UserError
from rewardlab.core.params import DataParams, EvalSetParams, FeaturizeParams, ModelParams
from rewardlab.data.cleaning import choose_format, clean_pairs, describe_drops
from rewardlab.data.formats import Format
from rewardlab.data.rendering import rendering_spec
from rewardlab.data.sources.loading import load_pairs, map_columns, read_source
from rewardlab.data.tokenizing import APART, render_split, tokenize_split
from rewardlab.evaluation.bestofn import BestOfNSet, clean_rows, is_bestofn, tokenize_rows
from rewardlab.evaluation.rewardbench2 import check_ties_ids
from rewardlab.model.loading import load_tokenizer

CATEGORY_COLUMNS = ("category", "subset")  # looked for when columns.category is not set
ID_COLUMN = "id"  # a row's id, kept when the set has one (RewardBench 2's Ties rows: "ref:N")
# prepare's messages name the training data's keys; for a set, its own keys are meant.
DATA_KEY = re.compile(r"\bdata\.(?=source|split|revision|format|columns)")


class ReadSet(NamedTuple):
    """One set read and cleaned, before any model: its rows, format and drops.

    A pairwise set's rows are canonical pairs (prepare's); a best-of-N set's (``bestofn``) are
    ``bestofn.clean_rows``'s: prompt, completions (correct first), num_correct, category, id.
    """

    rows: list[dict[str, Any]]
    format: Format
    dropped: Counter[str]
    bestofn: bool = False


def check_names(specs: Mapping[str, EvalSetParams], reserved: Iterable[str] = ()) -> None:
    """A set may not take the name of a held-out split (both report under ``sets.<name>``)."""
    taken = set(reserved)
    for name in specs:
        if name in taken:
            raise UserError(
                f"evaluate.sets.{name}: {name!r} is already the name of a held-out split in "
                "data/features, reported under sets by that name; give the set another name."
            )


def read_evaluation_sets(
    specs: Mapping[str, EvalSetParams], reserved: Iterable[str] = ()
) -> dict[str, ReadSet]:
    """Every named set read and cleaned, independent of any model (the references stage's)."""
    check_names(specs, reserved)
    return {name: read_evaluation_set(name, spec) for name, spec in specs.items()}


def load_evaluation_sets(
    specs: Mapping[str, EvalSetParams],
    metadata: dict[str, Any],
    use_chat_template: bool,
    reserved: Iterable[str] = (),
) -> dict[str, Dataset | BestOfNSet]:
    """Every named set, tokenized for the trained model; ``reserved``: names already taken."""
    check_names(specs, reserved)
    if not specs:
        return {}
    tokenizer = load_tokenizer(ModelParams.model_validate(metadata["model"]))  # featurize's
    return {
        name: load_evaluation_set(name, spec, tokenizer, metadata, use_chat_template)
        for name, spec in specs.items()
    }


def read_evaluation_set(name: str, spec: EvalSetParams) -> ReadSet:
    """Read and clean one set as prepare cleans training data; its rows keep their category."""
    key = f"evaluate.sets.{name}"
    try:
        rows, data = read_rows(spec, key)
        if is_bestofn(rows):
            return read_bestofn(rows, spec, key)
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
    return ReadSet(cleaned.pairs, fmt, cleaned.dropped)


def read_bestofn(rows: list[dict], spec: EvalSetParams, key: str) -> ReadSet:
    """A best-of-N set cleaned row by row; its Ties ids checked before anything is scored."""
    kept, fmt, dropped = clean_rows(rows, spec.format, key)
    check_ties_ids(((row["category"], row["id"]) for row in kept), key)
    return ReadSet(kept, fmt, dropped, bestofn=True)


def load_evaluation_set(
    name: str,
    spec: EvalSetParams,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    use_chat_template: bool,
) -> Dataset | BestOfNSet:
    """Read and clean one set, then render and tokenize it for the trained model."""
    read = read_evaluation_set(name, spec)
    features = tokenize_evaluation_set(read, tokenizer, metadata, use_chat_template)
    if isinstance(features, BestOfNSet):
        counted = f"{len(features.rows)} prompts of best-of-N, {sum(features.sizes)} completions"
        kind = read.format.type
    else:
        counted, kind = f"{len(features)} pairs", f"{read.format.type}, {read.format.prompt} prompt"
    print(f"evaluate: set {name!r}: {counted} ({kind}); {describe_drops(read.dropped)}")
    return features


def tokenize_evaluation_set(
    read: ReadSet,
    tokenizer: PreTrainedTokenizerBase,
    metadata: dict[str, Any],
    use_chat_template: bool,
) -> Dataset | BestOfNSet:
    """A read set rendered and tokenized as featurize made the trained model's features: a
    pairwise set as a Dataset of pairs, a best-of-N set every completion's ids."""
    rendering = set_rendering(read.format, tokenizer, metadata, use_chat_template)
    if read.bestofn:
        return tokenize_rows(read.rows, read.format, tokenizer, metadata, rendering)
    rendered = render_split(
        Dataset.from_list(read.rows),
        metadata["template"],
        rendering,
        tokenizer,
        apart=metadata.get("tokenization") == APART,  # prompt tokenized apart, as in training
    )
    # Truncated, never dropped: every pair of an evaluation set counts, as in the test split.
    budget = FeaturizeParams(max_length=metadata["max_length"], overflow="truncate")
    return tokenize_split(rendered, tokenizer, budget)[0]


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
    rows = map_columns(raw, data, key).to_list()
    if rows and ID_COLUMN in raw.column_names and ID_COLUMN not in rows[0]:
        rows = [{**row, ID_COLUMN: i} for row, i in zip(rows, raw[ID_COLUMN], strict=True)]
    return rows, data


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
