"""A validation error of ``params.yaml`` told in words: one line per bad key, naming the key, its
value and what is allowed there (with a close spelling for a typo)."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


def describe(error: ValidationError, raw: dict, path: Path, root: type[BaseModel]) -> str:
    """One line per bad key: the key, its value, and what is allowed there."""
    problems: dict[str, str] = {}
    for item in error.errors():
        if item["type"] == "extra_forbidden":
            key = ".".join(str(part) for part in item["loc"])
            section = _section_model(item["loc"][:-1], root)
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
        parts, field = _field_path(item["loc"], root)
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


def _walk(
    loc: Sequence, root: type[BaseModel]
) -> tuple[list[str], FieldInfo | None, type[BaseModel] | None]:
    """Follow ``loc`` through sections and named-section mappings as far as it names keys:
    the keys, the last key's field, and the section the path ends in (None: not a section)."""
    model: type[BaseModel] | None = root
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


def _section_model(loc: Sequence, root: type[BaseModel]) -> type[BaseModel] | None:
    parts, _, model = _walk(loc, root)
    return model if len(parts) == len(loc) else None


def _field_path(loc: Sequence, root: type[BaseModel]) -> tuple[list[str], FieldInfo | None]:
    """The longest prefix of ``loc`` that names params keys, and the last key's field."""
    parts, field, _ = _walk(loc, root)
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
