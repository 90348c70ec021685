"""JSON Lines read one record at a time, so a bad line is named by its number.

Shared by prepare's source check and ``rewardlab score``; it imports nothing heavy, so
``rewardlab score`` does not pay for ``datasets`` to read its input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` per non-blank line; a ``ValueError`` says where and what is wrong.

    Lines are read as bytes: ``json.loads`` detects the encoding itself, byte-order mark included.
    """
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"line {number}, column {exc.colno}: not valid JSON ({exc.msg})"
                ) from None
            except UnicodeDecodeError:
                raise ValueError(f"line {number}: not UTF-8 text") from None
            if not isinstance(record, dict):
                raise ValueError(
                    f"line {number}: expected a JSON object, got {type(record).__name__}"
                )
            yield number, record
