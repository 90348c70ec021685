"""Where preference pairs come from: the builtin generator, a local file or folder, or the Hub.

Whatever the source, the result is a ``datasets.Dataset`` whose columns are renamed to the
canonical names (``prompt``, ``chosen``, ``rejected`` and, when ``data.columns`` names them,
``category``, ``margin``, ``score_chosen``, ``score_rejected``), so the stages after this one
never care where the data came from. ``prompt`` may be absent: the prompt is then implicit in
chosen/rejected, and prepare extracts it. The builtin source adds ``category`` (the rejected
answer's failure mode), ``topic`` and ``topic_group`` (what prepare's held-out-topics split uses).

Local inputs are only read: nothing is written next to them (the ``datasets`` cache lives in
``HF_HOME``), and rows are handed on as they are, so prepare can count the unusable ones.

A source that holds no rows (an empty file, only blank lines, a CSV header, a zero-row Parquet
file or saved dataset, a folder with no data files) and a local path that does not exist are
each refused in one line that names the path and what was found (``sources/local.py``); a path
that cannot be a Hub id never gets advice about the Hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk
from datasets import config as datasets_config
from datasets.data_files import EmptyDatasetError
from datasets.exceptions import DataFilesNotFoundError

from rewardlab.core.errors import UserError
from rewardlab.core.hub import resolve_pinned
from rewardlab.core.params import DataParams, SourceParams
from rewardlab.data.sources import jsonl, local
from rewardlab.data.sources.generator import MAX_PAIRS, generate_pairs

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def load_pairs(params: SourceParams, split: str | None = None, key: str = "data") -> Dataset:
    """The rows of :func:`load_source`, without their provenance."""
    return load_source(params, split, key)[0]


def load_source(
    params: SourceParams, split: str | None = None, key: str = "data"
) -> tuple[Dataset, dict]:
    """Load ``split`` (default ``params.split``) of the source, columns mapped to canonical names.

    Returns the rows and their provenance (``{"source", "split", "revision", "commit"}``; the
    commit is the Hub's resolved one, None for local data). ``key`` is the params key the source
    sits under, named in error messages (``evaluate.sets.x`` for an evaluation set).
    """
    split = split or params.split
    provenance = {"source": params.source, "split": split, "revision": params.revision}
    if params.source == "builtin":
        if not isinstance(params, DataParams):
            raise UserError(f"{key}.source = 'builtin' is only available for data.source.")
        if params.num_pairs > MAX_PAIRS:
            raise UserError(
                f"data.num_pairs = {params.num_pairs}: the builtin generator makes at most "
                f"{MAX_PAIRS} pairs (beyond that they mostly repeat its topics)."
            )
        rows = generate_pairs(params.num_pairs, seed=params.generator_seed)
        return Dataset.from_list(rows), {**provenance, "split": None, "commit": None}
    dataset, commit = read_source(params, split, key)
    return map_columns(dataset, params, key), {**provenance, "commit": commit}


def read_source(params: SourceParams, split: str, key: str) -> tuple[Dataset, str | None]:
    """A local or Hub source's split as stored, every column, and the Hub commit read (None:
    local). Evaluation sets look at its columns before mapping them (``evaluation/evalsets.py``)."""
    path = Path(params.source).expanduser()
    if path.exists():
        dataset, commit = _load_local(path, split, key), None
    elif local.is_local_path(params.source):
        raise UserError(
            f"{key}.source = {params.source!r}: no such file or folder"
            f"{local.where(params.source)}. Fix the path, or create it before running "
            "(a Hub dataset id is owner/name, without a file ending)."
        )
    else:
        dataset, commit = _load_hub(params, split, key)
    if len(dataset) == 0:  # a loader that accepted a source of no rows
        found = "is empty (0 rows)" if path.is_file() else f"split {split!r} is empty (0 rows)"
        raise empty_source(key, params.source, found)
    return dataset, commit


def empty_source(key: str, source: str, found: str) -> UserError:
    """One line for a source that holds no rows: where, what was found, what to do."""
    return UserError(
        f"{key}.source = {source!r}: {found}. Put preference pairs in it, or point "
        f"{key}.source at the file or folder that holds them."
    )


def _load_local(path: Path, split: str, key: str) -> Dataset:
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise UserError(
                f"{key}.source = {str(path)!r}: unsupported file type {path.suffix!r} "
                f"(use one of {', '.join(FILE_BUILDERS)}, a saved dataset folder or a Hub id)."
            )
        if found := local.file_emptiness(path):  # before datasets prints its progress bars
            raise empty_source(key, str(path), found)
        try:
            return load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets wraps parser errors in several types
            # Arrow's JSON errors count rows from the start of a block, not lines in the file.
            where = json_problem(path) if builder == "json" else None
            raise UserError(
                f"{key}.source = {str(path)!r} could not be read as {builder}: "
                f"{where or _root_cause(exc)}"
            ) from None
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        return _load_saved(path, split, key)
    # A folder in the Hub's layout (e.g. a cloned dataset repo with data/train-*.parquet).
    if found := local.folder_emptiness(path):
        raise empty_source(key, str(path), found)
    try:
        with _quiet_card():
            dataset = load_dataset(str(path), cache_dir=_folder_cache(path))
    except (EmptyDatasetError, DataFilesNotFoundError):  # files, but none datasets can read
        found = (
            f"holds no data files (found only {local.listing(path)}; "
            f"expected {', '.join(FILE_BUILDERS)} files, in it or in data/)"
        )
        raise empty_source(key, str(path), found) from None
    except Exception:
        if found := local.folder_emptiness(path, partly=True):  # what datasets failed on
            raise empty_source(key, str(path), found) from None
        raise
    return _pick_split(dataset, split, str(path), key)


@contextmanager
def _quiet_card() -> Iterator[None]:
    """Silence huggingface_hub's "Repo card metadata block was not found" for a folder whose
    README has no YAML header: normal for a folder of files, and a second stderr line under the
    one-line message of a source that is refused."""
    card = logging.getLogger("huggingface_hub.repocard")
    level = card.level
    card.setLevel(logging.ERROR)
    try:
        yield
    finally:
        card.setLevel(level)


def _load_saved(path: Path, split: str, key: str) -> Dataset:
    """A ``save_to_disk`` folder; of a DatasetDict, only ``split`` is loaded, so another split
    of no rows (which ``datasets`` cannot load) is no obstacle to reading this one."""
    if not (path / "dataset_dict.json").exists():
        if found := local.saved_emptiness(path):
            raise empty_source(key, str(path), found)
        return load_from_disk(str(path))
    splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
    if split not in splits:
        raise _no_split(split, splits, str(path), key)
    if found := local.saved_emptiness(path / split):
        raise empty_source(key, str(path), f"split {split!r} {found}")
    return load_from_disk(str(path / split))


def _folder_cache(folder: Path) -> str:
    """A ``datasets`` cache of its own for a folder's current files.

    ``datasets`` names the cache of a local folder after the folder's name and card, not its
    files, so an edited folder, or another one of the same name, would read stale rows (or fail
    on another's schema). Keyed by every file's path, size and modification time, the cache is
    reused while the folder is unchanged and rebuilt when it changes.
    """
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return str(
        Path(datasets_config.HF_DATASETS_CACHE) / "rewardlab-folders" / digest.hexdigest()[:16]
    )


def json_problem(path: Path) -> str | None:
    """Where a JSON Lines file (or a JSON list of records) first goes wrong, e.g. "line 7: ...".

    Only called once a load has failed, so a good file is never read twice.
    """
    with path.open("rb") as handle:
        is_document = handle.read(4096).lstrip().startswith(b"[")
    if is_document:
        try:
            json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        except UnicodeDecodeError:
            return "not UTF-8 text"
        return None
    try:
        for _ in jsonl.records(path):
            pass
    except ValueError as exc:
        return str(exc)
    return None


def _load_hub(params: SourceParams, split: str, key: str) -> tuple[Dataset, str | None]:
    where, commit = resolve_pinned(params.source, "dataset", f"{key}.source", params.revision)
    try:
        # Online, load the very commit resolved above, so the recorded one is what was read.
        pinned = commit if where == params.source else None
        return load_dataset(where, split=split, revision=pinned), commit
    except (ValueError, KeyError) as exc:
        if "split" in str(exc).lower():
            raise UserError(
                f"{key}.split = {split!r} not found in {params.source!r}: {_root_cause(exc)}"
            ) from None
        raise
    except Exception as exc:  # offline, unknown id, gated repo: all need the same advice
        raise UserError(
            f"{key}.source = {params.source!r} is neither a local path nor a dataset that could be "
            f"loaded from the Hugging Face Hub ({_root_cause(exc)}). On a machine without network, "
            f"point {key}.source at a local file or folder, or pre-fill the Hugging Face cache "
            "(HF_HOME) on a machine that has network."
        ) from None


def _pick_split(data: DatasetDict, split: str, where: str, key: str) -> Dataset:
    if split not in data:
        raise _no_split(split, list(data), where, key)
    return data[split]


def _no_split(split: str, splits: list[str], where: str, key: str) -> UserError:
    return UserError(
        f"{key}.split = {split!r} not found in {where} (splits: {', '.join(splits)}). "
        f"Set {key}.split (or data.test_split) to one of them."
    )


def map_columns(dataset: Dataset, params: SourceParams, key: str) -> Dataset:
    """Select and rename the named columns; a default ``prompt`` that is absent means implicit."""
    mapping = params.columns.source_columns()
    if mapping.get("prompt") == "prompt" and "prompt" not in dataset.column_names:
        del mapping["prompt"]  # hh-rlhf's layout: prepare extracts the prompt from both sides
    missing = [
        f"{src!r} ({key}.columns.{dst})"
        for dst, src in mapping.items()
        if src not in dataset.column_names
    ]
    if missing:
        raise UserError(
            f"{key}.source = {params.source!r} lacks column(s) {', '.join(missing)}; "
            f"columns found: {', '.join(dataset.column_names)}. Map them in {key}.columns "
            "(set columns.prompt: null when the prompt is part of chosen/rejected)."
        )
    dataset = dataset.select_columns(list(mapping.values()))
    renames = {src: dst for dst, src in mapping.items() if src != dst}
    return dataset.rename_columns(renames) if renames else dataset


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"
