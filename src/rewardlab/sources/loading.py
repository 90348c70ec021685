"""Where preference pairs come from: the builtin generator, a local file or folder, or the Hub.

Whatever the source, the result is a ``datasets.Dataset`` with the columns ``prompt``,
``chosen`` and ``rejected`` (mapped from ``data.columns``), so the stages after this one never
care where the data came from. The builtin source adds ``category`` (the rejected answer's
failure mode), ``topic`` and ``topic_group`` (what prepare's held-out-topics split uses).

Local inputs are only read: nothing is written next to them (the ``datasets`` cache lives in
``HF_HOME``), and rows are handed on as they are, so prepare can count the unusable ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from rewardlab.errors import UserError
from rewardlab.hub import resolve
from rewardlab.params import DataParams
from rewardlab.sources import jsonl
from rewardlab.sources.generator import MAX_PAIRS, generate_pairs

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def load_pairs(params: DataParams) -> Dataset:
    """Load the configured source and map its columns to ``prompt``/``chosen``/``rejected``."""
    if params.source == "builtin":
        if params.num_pairs > MAX_PAIRS:
            raise UserError(
                f"data.num_pairs = {params.num_pairs}: the builtin generator makes at most "
                f"{MAX_PAIRS} pairs (beyond that they mostly repeat its topics)."
            )
        return Dataset.from_list(generate_pairs(params.num_pairs, seed=params.generator_seed))
    path = Path(params.source).expanduser()
    dataset = _load_local(path, params.split) if path.exists() else _load_hub(params)
    return _map_columns(dataset, params)


def _load_local(path: Path, split: str) -> Dataset:
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise UserError(
                f"data.source = {str(path)!r}: unsupported file type {path.suffix!r} "
                f"(use one of {', '.join(FILE_BUILDERS)}, a saved dataset folder or a Hub id)."
            )
        try:
            return load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets wraps parser errors in several types
            # Arrow's JSON errors count rows from the start of a block, not lines in the file.
            where = json_problem(path) if builder == "json" else None
            raise UserError(
                f"data.source = {str(path)!r} could not be read as {builder}: "
                f"{where or _root_cause(exc)}"
            ) from None
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        saved = load_from_disk(str(path))
        return _pick_split(saved, split, str(path)) if isinstance(saved, DatasetDict) else saved
    # A folder in the Hub's layout (e.g. a cloned dataset repo with data/train-*.parquet).
    return _pick_split(load_dataset(str(path)), split, str(path))


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


def _load_hub(params: DataParams) -> Dataset:
    source = resolve(params.source, "dataset", "data.source")
    try:
        return load_dataset(source, split=params.split)
    except (ValueError, KeyError) as exc:
        if "split" in str(exc).lower():
            raise UserError(
                f"data.split = {params.split!r} not found in {params.source!r}: {_root_cause(exc)}"
            ) from None
        raise
    except Exception as exc:  # offline, unknown id, gated repo: all need the same advice
        raise UserError(
            f"data.source = {params.source!r} is neither a local path nor a dataset that could be "
            f"loaded from the Hugging Face Hub ({_root_cause(exc)}). On a machine without network, "
            "point data.source at a local file or folder, or pre-fill the Hugging Face cache "
            "(HF_HOME) on a machine that has network."
        ) from None


def _pick_split(data: DatasetDict, split: str, where: str) -> Dataset:
    if split not in data:
        raise UserError(f"data.split = {split!r} not found in {where} (splits: {', '.join(data)}).")
    return data[split]


def _map_columns(dataset: Dataset, params: DataParams) -> Dataset:
    mapping = params.columns.model_dump()
    missing = [
        f"{src!r} (data.columns.{dst})"
        for dst, src in mapping.items()
        if src not in dataset.column_names
    ]
    if missing:
        raise UserError(
            f"data.source = {params.source!r} lacks column(s) {', '.join(missing)}; "
            f"columns found: {', '.join(dataset.column_names)}. Map them in data.columns."
        )
    dataset = dataset.select_columns(list(mapping.values()))
    renames = {src: dst for dst, src in mapping.items() if src != dst}
    return dataset.rename_columns(renames) if renames else dataset


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"
