"""Typed, validated view of ``params.yaml``.

Every stage reads its hyperparameters through :func:`load_params`, so a typo or an out-of-range
value is caught once, before any work starts, with a message that names the key. The sections
mirror ``params.yaml`` one to one; ``dvc.yaml`` lists which sections each stage depends on.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from rewardlab.core.errors import UserError
from rewardlab.core.params.base import SET_NAME, PositiveInt, Section, check_template
from rewardlab.core.params.data import (
    Columns,
    DataColumns,
    DataParams,
    PrepareParams,
    SourceParams,
)
from rewardlab.core.params.evaluation import (
    DEFAULT_SETS,
    EvalSetParams,
    EvaluateParams,
    ReferenceInput,
    ReferenceParams,
)
from rewardlab.core.params.messages import describe
from rewardlab.core.params.training import FeaturizeParams, LoraParams, ModelParams, TrainParams

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_SETS",
    "SET_NAME",
    "Columns",
    "DataColumns",
    "DataParams",
    "EvalSetParams",
    "EvaluateParams",
    "FeaturizeParams",
    "LoraParams",
    "ModelParams",
    "Params",
    "PositiveInt",
    "PrepareParams",
    "ReferenceInput",
    "ReferenceParams",
    "Section",
    "SourceParams",
    "TrainParams",
    "check_template",
    "load_params",
    "params_from_argv",
]


DEFAULT_PARAMS = Path("params.yaml")


class Params(Section):
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    prepare: PrepareParams = PrepareParams()
    featurize: FeaturizeParams = FeaturizeParams()
    lora: LoraParams = LoraParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()


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
        raise UserError(describe(exc, raw, path, Params)) from None


def params_from_argv(argv: Sequence[str] | None, description: str | None) -> Params:
    """Parse a stage's command line (just ``--params``) and load the params it names."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default=str(DEFAULT_PARAMS), help="params file (params.yaml)")
    return load_params(parser.parse_args(argv).params)
