"""What every params section shares: unknown keys are errors; small checks several use."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    # Unknown keys are errors: a silently ignored `learnig_rate` is worse than a crash.
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_template(value: str) -> str:
    """A role template holds ``{prompt}`` before ``{response}`` (rendering.role_prefixes)."""
    for field in ("{prompt}", "{response}"):
        if field not in value:
            raise ValueError(f"must contain {field}")
    if value.index("{prompt}") > value.index("{response}"):
        raise ValueError("{prompt} must come before {response}")
    return value


SET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
