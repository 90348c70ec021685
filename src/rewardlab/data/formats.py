"""The layouts a preference pair comes in, and their one canonical form.

TRL's ``RewardTrainer`` documents four: *standard* (texts) or *conversational* (lists of
``{"role", "content"}`` messages), each with an *explicit* ``prompt`` or an *implicit* one (only
``chosen``/``rejected``, the prompt being their shared start, as in Anthropic/hh-rlhf). Every row
leaves here with a ``prompt`` and with ``chosen``/``rejected`` holding only the answer, so
featurize renders all four the same way. Detection and prompt extraction are TRL's
(``is_conversational``, ``extract_prompt``); this module adds what a dataset in the wild needs:
per-row checks with a reason for every dropped row, and a turn boundary for extracted text
prompts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal, NamedTuple

import yaml

FormatType = Literal["standard", "conversational"]
PromptMode = Literal["explicit", "implicit"]
MESSAGE_ROLES = ("system", "user", "assistant", "tool")
# The last speaker label ("\n\nAssistant:", hh-rlhf's turn marker) in an extracted text prompt:
# the prompt ends there, so answers that start alike ("I think" / "I am") are not cut mid-word.
SPEAKER_LABEL = re.compile(r"\n\n[A-Z][\w ]{0,30}:")


class Format(NamedTuple):
    type: FormatType
    prompt: PromptMode

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "prompt": self.prompt}


class Dropped(NamedTuple):
    """Why a row was dropped, and the column that showed it (for the error message)."""

    reason: str
    column: str
    detail: str = ""
    """What exactly was wrong, when the reason alone does not say (``4 completions, 3 scores``)."""


def is_conversational(example: dict[str, Any]) -> bool:
    """TRL's check, imported on first use: trl.data_utils pulls in torch and transformers (10 s
    on a 2-core CPU), which rows of text with an explicit prompt (the builtin source, Dahoas)
    never need."""
    from trl.data_utils import is_conversational as trl_is_conversational

    return trl_is_conversational(example)


def extract_prompt(example: dict[str, Any]) -> dict[str, Any]:
    """TRL's shared-prefix split of an implicit prompt, imported on first use (see above)."""
    from trl.data_utils import extract_prompt as trl_extract_prompt

    return trl_extract_prompt(example)


@cache
def drop_reasons() -> dict[str, str]:
    """Reason → what it means and how to fix it, in the order the checks run."""
    text = resources.files("rewardlab.data").joinpath("drop_reasons.yaml").read_text()
    return yaml.safe_load(text)


def layout(value: Any) -> FormatType | None:
    """``standard`` for text, ``conversational`` for a list of messages, None for anything else."""
    if isinstance(value, str):
        return "standard"
    if isinstance(value, list) and (not value or is_conversational({"chosen": value})):
        return "conversational"
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        return "conversational"  # messages, but malformed: bad_message says which
    return None


def detect_format(row: Mapping[str, Any]) -> Format | None:
    """The format of one raw row (with or without a ``prompt``), or None when it has none."""
    kind = layout(row.get("chosen"))
    if kind is None:
        return None
    prompt = row.get("prompt")
    if prompt is None:
        return Format(kind, "implicit")
    if kind == "conversational" and isinstance(prompt, str):
        # UltraFeedback's layout: a prompt string beside full conversations (user turn included).
        chosen = row["chosen"]
        starts_with_prompt = bool(chosen) and chosen[0].get("role") != "assistant"
        return Format(kind, "implicit" if starts_with_prompt else "explicit")
    return Format(kind, "explicit")


def normalise(row: Mapping[str, Any], fmt: Format) -> dict[str, Any] | Dropped:
    """``prompt``/``chosen``/``rejected`` in canonical form, or why the row is unusable."""
    sides = ("chosen", "rejected") if fmt.prompt == "implicit" else ("prompt", "chosen", "rejected")
    for column in sides:
        if row.get(column) is None:
            return Dropped("missing", column)
    for column in sides:
        kind = layout(row[column])
        if kind is None:
            return Dropped("bad_type", column)
        if kind != fmt.type and not (column == "prompt" and fmt.type == "conversational"):
            return Dropped("mixed_format", column)
    if fmt.type == "standard":
        return _standard(row, fmt)
    return _conversational(row, fmt)


def _standard(row: Mapping[str, Any], fmt: Format) -> dict[str, Any] | Dropped:
    if fmt.prompt == "implicit":
        split = extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]})
        prompt = _at_turn_boundary(split["prompt"])
        if not prompt.strip():
            return Dropped("no_common_prefix", "chosen")
        pair = {
            "prompt": prompt,
            "chosen": row["chosen"][len(prompt) :],
            "rejected": row["rejected"][len(prompt) :],
        }
    else:
        pair = {column: row[column] for column in ("prompt", "chosen", "rejected")}
    for column, value in pair.items():
        if not value.strip():
            return Dropped("empty", column)
    if pair["chosen"].strip() == pair["rejected"].strip():
        return Dropped("identical", "chosen")
    return pair


def _at_turn_boundary(prompt: str) -> str:
    """Cut an extracted text prompt back to just after its last speaker label, if it has one."""
    labels = list(SPEAKER_LABEL.finditer(prompt))
    return prompt[: labels[-1].end()] if labels else prompt


def _conversational(row: Mapping[str, Any], fmt: Format) -> dict[str, Any] | Dropped:
    for column in ("chosen", "rejected") + (("prompt",) if fmt.prompt == "explicit" else ()):
        if isinstance(row[column], list) and not all(map(_is_message, row[column])):
            return Dropped("bad_message", column)
    chosen = [_message(m) for m in row["chosen"]]
    rejected = [_message(m) for m in row["rejected"]]
    if fmt.prompt == "implicit":
        split = extract_prompt({"chosen": chosen, "rejected": rejected})
        prompt, chosen, rejected = split["prompt"], split["chosen"], split["rejected"]
        if not prompt:
            return Dropped("no_common_prefix", "chosen")
    elif isinstance(row["prompt"], str):
        prompt = [{"role": "user", "content": row["prompt"]}]
    else:
        prompt = [_message(m) for m in row["prompt"]]
    pair = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    for column in ("chosen", "rejected"):
        if not any(m["role"] == "assistant" for m in pair[column]):
            return Dropped("no_assistant_turn", column)
    for column, messages in pair.items():
        if not messages or not any(m["content"].strip() for m in messages):
            return Dropped("empty", column)
    if _texts(chosen) == _texts(rejected):
        return Dropped("identical", "chosen")
    return pair


def _is_message(message: Any) -> bool:
    return (
        isinstance(message, Mapping)
        and message.get("role") in MESSAGE_ROLES
        and isinstance(message.get("content"), str)
    )


def _message(message: Mapping[str, Any]) -> dict[str, str]:
    """Only role and content: Arrow adds null keys that other messages in the column had."""
    return {"role": message["role"], "content": message["content"]}


def _texts(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"].strip()) for m in messages]


def to_margin(value: Any) -> float | None:
    """A finite float, or None for anything else (text, bools, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


TIE_WORDS = ("true", "yes", "1")


def is_tie(value: Any) -> bool:
    """Whether a tie column's value marks a tie: true, a non-zero number, or text that starts
    with ``tie`` (an arena's ``winner: tie``, ``tie (bothbad)``) or reads true/yes/1."""
    if isinstance(value, bool | int | float):
        return bool(value) and value == value  # NaN is no tie
    if isinstance(value, str):
        text = value.strip().casefold()
        return text.startswith("tie") or text in TIE_WORDS
    return False
