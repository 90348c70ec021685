"""The ``data`` and ``prepare`` sections: where the pairs come from, how their columns map, and
how they are split."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rewardlab.core.params.base import PositiveInt, Section


class Columns(Section):
    """Column names in the source data, so a preference set with other names can be mapped.

    Only ``chosen`` and ``rejected`` are required. ``prompt`` may be absent from the data (the
    prompt is then the implicit shared start of both sides, as in Anthropic/hh-rlhf); the optional
    columns are read only when named.
    """

    prompt: str | None = "prompt"
    """``null``: the data has no prompt column; it is extracted from chosen/rejected."""
    chosen: str = "chosen"
    rejected: str = "rejected"
    category: str | None = None
    """A label per pair (e.g. RewardBench's ``subset``), kept for per-category evaluation."""
    margin: str | None = None
    """A number per pair: how much better chosen is, passed to TRL's margin loss."""
    score_chosen: str | None = None
    """With ``score_rejected``: the margin is ``(score_chosen - score_rejected) * margin_scale``."""
    score_rejected: str | None = None

    @model_validator(mode="after")
    def _one_margin_source(self) -> Columns:
        scores = (self.score_chosen is None, self.score_rejected is None)
        if scores[0] != scores[1]:
            raise ValueError("name both score_chosen and score_rejected, or neither")
        if self.margin is not None and self.score_chosen is not None:
            raise ValueError("take the margin from margin or from the two score columns, not both")
        return self

    def source_columns(self) -> dict[str, str]:
        """Canonical name → source column, for every column named (``sources/loading.py``)."""
        return {dst: src for dst, src in self.model_dump().items() if src is not None}


class SourceParams(Section):
    """Where a preference set comes from and how it is laid out.

    Shared by the training data (``data``) and evaluation sets, so both are described alike.
    """

    source: str = "builtin"
    """``builtin``, a Hub dataset id, a local .jsonl/.json/.csv/.parquet file or a saved dataset."""
    split: str = "train"
    """Split to read from a Hub dataset or a saved DatasetDict."""
    revision: str | None = None
    """Hub source only: the dataset commit, tag or branch to read (pins the data)."""
    format: Literal["auto", "standard", "conversational"] = "auto"
    """``standard``: texts; ``conversational``: lists of ``{role, content}`` messages;
    ``auto``: detected from the first usable row."""
    columns: Columns = Columns()


class DataColumns(Columns):
    """The training data's columns: a pairwise set's, and those of a set of rated completions
    (``data.pairs_from``; ``data/ratings.py``), and a pairwise set's tie label."""

    completions: str | None = None
    """With ``data.pairs_from``: the column holding each prompt's list of completions (texts,
    message lists, or mappings with a ``completion_text`` field, as UltraFeedback's raw rows)."""
    completion_scores: str | None = None
    """The completions' scores: a column holding a list of numbers as long as the completions
    list, or, when ``completion_text`` is set, the score field of each completion mapping."""
    completion_text: str | None = None
    """Set when the completions list holds mappings (UltraFeedback's ``response``): the field
    of each holding its text; ``completion_scores`` then names a field of each mapping too."""
    tie: str | None = None
    """Pairwise rows only: a column marking ties (true, a non-zero number, or text ``tie…``,
    ``true``, ``yes`` or ``1``); those rows teach no preference and are dropped as ``tie``."""

    def source_columns(self) -> dict[str, str]:
        """Canonical name → source column, for the columns read from the rows themselves: with
        completions named, not chosen/rejected; fields inside each completion are not columns."""
        mapping = super().source_columns()
        if self.completions is not None:
            del mapping["chosen"], mapping["rejected"]
        mapping.pop("completion_text", None)
        if self.completion_text is not None:
            mapping.pop("completion_scores", None)
        return mapping


def _pairs_from_problems(data: DataParams) -> list[str]:
    """What contradicts ``data.pairs_from`` (set or not) among the other data keys."""
    columns, mode = data.columns, data.pairs_from
    rated = ("completions", "completion_scores", "completion_text")
    if mode is None:
        named = [f"data.columns.{key}" for key in rated if getattr(columns, key) is not None]
        problems = []
        if named:
            problems.append(
                f"{', '.join(named)}: read only with data.pairs_from set (best_vs_worst, "
                "best_vs_rest or all)"
            )
        if data.pairs_margin:
            problems.append("data.pairs_margin needs data.pairs_from")
        return problems
    problems = [
        f"data.pairs_from = {mode!r} needs data.columns.{key}"
        for key in ("completions", "completion_scores")
        if getattr(columns, key) is None
    ]
    if data.source == "builtin":
        problems.append("data.pairs_from needs a source of rated completions, not builtin")
    if columns.prompt is None:
        problems.append("data.pairs_from needs data.columns.prompt (each row's prompt)")
    defaults = Columns()
    problems += [
        f"data.columns.{key} is not read with data.pairs_from: remove it"
        for key in ("chosen", "rejected")
        if getattr(columns, key) != getattr(defaults, key)
    ]
    for key in ("margin", "score_chosen", "score_rejected", "tie"):
        if getattr(columns, key) is not None:
            instead = "set data.pairs_margin: true" if key != "tie" else "equal scores are ties"
            problems.append(f"data.columns.{key} is not read with data.pairs_from ({instead})")
    return problems


class DataParams(SourceParams):
    columns: DataColumns = DataColumns()
    pairs_from: Literal["best_vs_worst", "best_vs_rest", "all"] | None = None
    """Rows of a prompt and rated completions (``columns.completions``/``completion_scores``)
    become pairs: the best against the worst, the best against each other one, or every two of
    different scores. Equal scores make no pair (dropped as ``tie``). null: pairwise rows."""
    pairs_margin: bool = False
    """With ``pairs_from``: each pair's margin is ``(chosen's score - rejected's score) *
    margin_scale``, for TRL's margin loss."""
    num_pairs: PositiveInt = 6000
    """Rows the builtin generator makes (ignored for other sources), before the split."""
    generator_seed: int = 0
    test_split: str | None = None
    """The source's own held-out split (``test``, ``test_prefs``): it becomes the test split,
    cleaned like the training split, and ``prepare.test_size`` is not used."""
    margin_scale: float = Field(1.0, gt=0)
    """Multiplies a margin taken from ``columns.score_chosen``/``score_rejected`` or, with
    ``pairs_margin``, from the completions' scores."""

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_of_a_set(cls, value: Any) -> Any:
        """An evaluation set's ``Columns`` describe training-like data too (evalsets.py)."""
        return value.model_dump() if isinstance(value, Columns) else value

    @model_validator(mode="after")
    def _pairs_from_fits(self) -> DataParams:
        problems = _pairs_from_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PrepareParams(Section):
    test_size: float = Field(0.2, gt=0, lt=1)
    """Share of the prompts (of the pairs, when no prompt repeats) held out as ``test``, a
    prompt's pairs all on one side (unused when ``data.test_split`` is set)."""
    seed: int = 42
    max_drop_fraction: float = Field(0.5, ge=0, le=1)
    """Fail when more than this fraction of rows is dropped: the data is probably mis-mapped."""
    group_column: str | None = "topic_group"
    """When every row has this column, ``test`` holds out whole groups (topics) rather than
    random rows; sources without it are split at random. The builtin source has it."""
    seen_test_size: float = Field(0.1, ge=0, lt=1)
    """With a group split: share of the training groups' rows held out as ``test_seen_topics``
    (in-distribution pairs, whole prompts at a time so none is shared with training; 0 for
    none)."""

    @model_validator(mode="before")
    @classmethod
    def _template_moved(cls, values: Any) -> Any:
        if isinstance(values, dict) and "template" in values:
            raise ValueError("prepare.template moved to featurize.template: move the key there")
        return values
