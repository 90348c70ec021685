"""Local sources that hold nothing, and paths that cannot be Hub ids: said in one line.

Left to ``datasets``, an empty file ends in ``StopIteration``, a CSV with only its header in
"Instruction 'train' corresponds to no data", an empty folder in a 35-line traceback, and a local
path that does not exist (yet) in advice about an unreachable Hub. These helpers tell those
cases apart so the loader and ``rewardlab score`` can name the path and what was found. The
loader asks before ``datasets`` reads anything (whose progress bars would otherwise come before
the one line); for a good file that costs a stat and its first block, as each check stops at
the first byte or row that settles the question. Nothing heavy is imported, so ``rewardlab
score`` pays for no ``datasets`` to use them.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path, PurePosixPath

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
# Endings that make a name a file's. A Hub id's name may hold a dot
# ("allenai/tulu-2.5-preference-data", "…-v0.2"), so "has a suffix" alone would not do.
FILE_SUFFIXES = frozenset(
    {
        *DATA_SUFFIXES,
        *(".ndjson", ".tsv", ".txt", ".arrow", ".feather", ".xlsx", ".yaml", ".yml"),
        *(".gz", ".bz2", ".xz", ".zst", ".zip", ".tar"),
    }
)
CHUNK = 1 << 16
BOM = b"\xef\xbb\xbf"
EMPTY_JSON_LIST = re.compile(rb"\[\s*\]")
LISTED_FILES = 5  # a message names at most this many of a folder's files


def is_local_path(source: str) -> bool:
    """True when ``source`` can only mean a local path, so a missing one is never a Hub question.

    A Hub id is ``name`` or ``owner/name``: a path with a file ending (``pairs.jsonl``), one
    starting ``./``, ``../``, ``/`` or ``~``, or one with more than one ``/`` (``data/raw/x``)
    cannot be one. A plain ``owner/name`` that is not on disk still goes to the Hub.
    """
    if source in (".", "..") or source.startswith(("./", "../", "/", "~", ".\\", "..\\")):
        return True
    if "\\" in source or source.count("/") > 1:
        return True
    return PurePosixPath(source).suffix.lower() in FILE_SUFFIXES


def where(source: str) -> str:
    """``" (looked for /abs/path)"`` for a relative or ``~`` path, so a message run from another
    folder (DVC runs stages from the repo root) shows where; empty for an absolute one."""
    looked = os.path.abspath(Path(source).expanduser())
    return "" if looked == source else f" (looked for {looked})"


def file_emptiness(path: Path) -> str | None:
    """How a data file holds no rows, e.g. ``"is empty (0 bytes)"``; None when it holds some
    (or its emptiness cannot be told, e.g. it is not valid Parquet: the parser says why)."""
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_emptiness(path)
    if suffix not in (".jsonl", ".json", ".csv", ".ndjson", ".tsv", ".txt"):
        return None
    if _only_whitespace(path):
        return "is empty (only blank lines)"
    small = path.stat().st_size <= CHUNK  # an empty list is short, unless padded absurdly
    if suffix == ".json" and small and EMPTY_JSON_LIST.fullmatch(_text(path)):
        return "is empty (an empty JSON list)"
    if suffix in (".csv", ".tsv"):
        header = _header_only(path, "\t" if suffix == ".tsv" else ",")
        if header is not None:
            return f"is empty (only a header row: {', '.join(header)})"
    return None


def _text(path: Path) -> bytes:
    return path.read_bytes().removeprefix(BOM).strip()


def _only_whitespace(path: Path) -> bool:
    with path.open("rb") as handle:
        first = True
        while chunk := handle.read(CHUNK):
            if first:
                chunk, first = chunk.removeprefix(BOM), False
            if chunk.strip():
                return False
    return True


def _header_only(path: Path, delimiter: str) -> list[str] | None:
    """The header's cells when no row follows it (blank rows aside), else None."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        rows = (row for row in reader if any(cell.strip() for cell in row))
        header = next(rows, None)
        if header is None or next(rows, None) is not None:
            return None
    return header


def _parquet_emptiness(path: Path) -> str | None:
    import pyarrow.parquet as pq  # only here: rewardlab score reads no Parquet

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception:  # not Parquet at all: the loader's own message says so
        return None
    return "is empty (a Parquet file with 0 rows)" if rows == 0 else None


def saved_emptiness(folder: Path) -> str | None:
    """``"is empty (a saved dataset with 0 rows)"`` for a ``save_to_disk`` folder of no rows.

    ``datasets`` cannot load one (an ``IndexError`` deep in its concatenation); its
    ``state.json`` lists no data files.
    """
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None  # not readable: let load_from_disk say what is wrong
    if isinstance(state, dict) and state.get("_data_files") == []:
        return "is empty (a saved dataset with 0 rows)"
    return None


def visible_files(folder: Path) -> list[Path]:
    """Files under ``folder`` outside hidden entries (``.git``, caches), as the loaders see it."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def folder_emptiness(folder: Path, partly: bool = False) -> str | None:
    """How a folder in the Hub's layout holds no rows: no files at all, or data files that all
    hold none (each named); None when that is not it.

    Asked before ``datasets`` reads the folder, it stops at the first data file with rows. With
    ``partly`` (once a load has failed) it also names the empty files among good ones: those
    are what ``datasets`` failed on, but a stray empty file it would skip must not stop a load.
    """
    files = visible_files(folder)
    if not files:
        return "is an empty folder"
    data = [f for f in files if f.suffix.lower() in DATA_SUFFIXES]
    empty = {}
    for file in data:
        if reason := file_emptiness(file):
            empty[file] = reason
        elif not partly:
            return None
    if not empty:
        return None
    named = "; ".join(f"{f.relative_to(folder).as_posix()} {r}" for f, r in empty.items())
    if len(empty) == len(data):
        return f"is empty (its data files hold no rows: {_shorten(named)})"
    return f"holds empty data files ({_shorten(named)})"


def listing(folder: Path) -> str:
    """A folder's files for a message: ``README.md, notes.txt and 3 more``."""
    names = [f.relative_to(folder).as_posix() for f in visible_files(folder)]
    shown = ", ".join(names[:LISTED_FILES])
    return shown + (f" and {len(names) - LISTED_FILES} more" if len(names) > LISTED_FILES else "")


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
