"""The ``evaluate`` section: extra evaluation sets, reference reward models, how figures are
computed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rewardlab.core.params.base import SET_NAME, PositiveInt, Section, check_template
from rewardlab.core.params.data import SourceParams


class EvalSetParams(SourceParams):
    """An extra evaluation set, described with the same keys as ``data``.

    ``columns.category`` left null picks a column named ``category`` or ``subset``
    (RewardBench's) when the set has one, so per-category figures need no extra key.
    """

    source: str
    """A local .jsonl/.json/.csv/.parquet file, a dataset folder, or a Hub dataset id."""


DEFAULT_SETS = {"everyday": EvalSetParams(source="data/eval/everyday.jsonl")}


ReferenceInput = Literal["auto", "chat_template", "text_pair", "template"]


class ReferenceParams(Section):
    """A reference reward model, scored on the same pairs as the trained one (references stage).

    Any ``AutoModelForSequenceClassification`` with one output, read as the ``input`` mode says
    (README, "Reference reward models"); safetensors weights only, as for the base model.
    """

    model: str
    """A Hub model id, or a local folder (a ``rewardlab export``, ``models/reward_model`` of
    another checkout, any saved transformers classifier)."""
    input: ReferenceInput = "auto"
    """``chat_template``: the conversation through the tokenizer's chat template;
    ``text_pair``: ``tokenizer(prompt, response)``; ``template``: the role ``template`` below;
    ``auto``: a rewardlab folder's own contract, else ``chat_template`` when the tokenizer has
    one, else ``text_pair``."""
    template: str | None = None
    """Role template for ``input: template`` (as featurize.template), e.g.
    ``"Question: {prompt}\nAnswer: {response}"``; only with that input."""
    revision: str | None = None
    """Hub id only: the model commit, tag or branch to load (pins the reference)."""
    trust_remote_code: bool = False
    """Run the model's own Python code from the Hub; read that code before you set it."""
    max_length: PositiveInt | None = None
    """Tokens per (prompt, response), cut on the right; null: the tokenizer's
    ``model_max_length``, at most the model's positions and 4096."""
    batch_size: PositiveInt = 16
    """Sequences per forward pass (a large reference on long pairs needs small batches)."""

    @model_validator(mode="after")
    def _template_with_its_input(self) -> ReferenceParams:
        if self.input == "template" and self.template is None:
            raise ValueError("input: template needs a template, e.g. 'Q: {prompt} A: {response}'")
        if self.input != "template" and self.template is not None:
            raise ValueError(f"template is read only with input: template (input is {self.input})")
        if self.template is not None:
            check_template(self.template)
        if Path(self.model).expanduser().exists() and self.revision is not None:
            raise ValueError(f"revision is for Hub ids; {self.model!r} is a local folder")
        return self


class EvaluateParams(Section):
    sets: dict[Annotated[str, Field(pattern=SET_NAME)], EvalSetParams] = DEFAULT_SETS
    """Extra named evaluation sets, each scored like the test split, under ``sets.<name>`` in
    reports/metrics.json. ``{}`` or null: none."""
    batch_size: PositiveInt = 128
    bootstrap_resamples: PositiveInt = 10000
    """Resamples for the win rate's 95% confidence interval (cheap: drawn as one binomial)."""
    seed: int = 0
    """Seeds the bootstrap and the random-rewards baseline."""
    length_tolerance: float = Field(0.1, ge=0, lt=1)
    """Chosen and rejected lengths within this fraction of the longer one count as similar."""
    calibration_bins: PositiveInt = 10
    """Equal-width bins of the model's confidence sigmoid(|margin|) over [0.5, 1]."""
    reward_stats_pairs: PositiveInt = 500
    """Training pairs (drawn with ``seed``) whose rewards give the mean and std for normalising:
    500 pairs put the mean within a few hundredths of a std, in a fraction of a full pass."""
    references: dict[Annotated[str, Field(pattern=SET_NAME)], ReferenceParams] = Field(
        default_factory=dict
    )
    """Reference reward models, scored by the references stage on the pairs evaluate scores and
    reported under ``references.<name>`` in reports/metrics.json. ``{}`` or null: none."""
    overlap: Literal["report", "exclude"] = "report"
    """Pairs whose prompt overlaps a training prompt (exactly, or by a 13-gram:
    ``evaluation/overlap.py``) are counted under each set's ``overlap``; ``exclude`` also leaves
    them out of that set's figures and per-pair files, so a win rate measures unseen prompts."""

    @field_validator("sets", "references", mode="before")
    @classmethod
    def _null_means_none(cls, value: Any) -> Any:
        return {} if value is None else value
