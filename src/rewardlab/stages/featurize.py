"""Stage 2, featurize: canonical pairs → the texts the model reads → token ids for TRL.

Rendering lives here because it depends on the tokenizer: conversations use the tokenizer's own
chat template when it has one (``featurize.use_chat_template``), anything else the role template
``featurize.template`` (``rendering.render_text`` decides, for training and scoring alike). How
it rendered is recorded in ``stats.json`` and from there in the model's ``rewardlab.json``.

Tokenizing once here, cached by DVC, means training and evaluation never re-tokenize, and a
change of training params never re-runs it. Length is limited in *tokens* on *both* sides
(the tutorial filtered on characters and joined the two sides with ``or``, which kept pairs where
only one side fit). No padding is stored: batches are padded dynamically at train/score time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

from rewardlab.errors import UserError, run_main
from rewardlab.modeling import load_tokenizer
from rewardlab.outputs import atomic_dir
from rewardlab.params import FeaturizeParams, params_from_argv
from rewardlab.paths import FEATURES_DIR, PREPARED_DIR
from rewardlab.rendering import render_text, rendering_spec

SIDES = ("chosen", "rejected")


def render_split(
    split: Dataset,
    template: str,
    rendering: dict | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> Dataset:
    """Add ``chosen_text``/``rejected_text`` (and whether special tokens go around them)."""

    def render(row: dict) -> dict:
        out = {}
        for side in SIDES:
            text, special = render_text(rendering, template, row["prompt"], row[side], tokenizer)
            out[f"{side}_text"] = text
        out["add_special_tokens"] = special
        return out

    return split.map(render, desc="Rendering")


def format_pair(row: dict[str, str], template: str) -> dict[str, str]:
    """A text pair with its rendered texts: the role template around prompt and response."""
    return {
        **row,
        **{
            f"{side}_text": render_text(None, template, row["prompt"], row[side])[0]
            for side in SIDES
        },
    }


def tokenize_split(
    split: Dataset, tokenizer: PreTrainedTokenizerBase, params: FeaturizeParams
) -> tuple[Dataset, dict]:
    """Add ``chosen_ids``/``rejected_ids``, apply the token budget, and describe the lengths."""

    # One rendering per set, so one flag (a chat template's text holds its special tokens).
    special = split[0]["add_special_tokens"] if "add_special_tokens" in split.column_names else True

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out = {}
        for side in SIDES:
            ids = tokenizer(batch[f"{side}_text"], add_special_tokens=special)["input_ids"]
            out[f"{side}_length"] = [len(x) for x in ids]  # before any truncation
            out[f"{side}_ids"] = ids
        return out

    encoded = split.map(encode, batched=True, desc="Tokenizing")
    lengths = {side: np.asarray(encoded[f"{side}_length"]) for side in SIDES}
    over = (lengths["chosen"] > params.max_length) | (lengths["rejected"] > params.max_length)
    if params.overflow == "drop":
        encoded = encoded.select(np.flatnonzero(~over))
    else:
        encoded = encoded.map(
            lambda row: _truncate(row, params.max_length, tokenizer), desc="Truncating"
        )
    # The trainer's length-grouped sampler reads this column instead of re-measuring every pair.
    encoded = encoded.map(
        lambda row: {"length": max(len(row["chosen_ids"]), len(row["rejected_ids"]))},
        desc="Measuring",
    )
    stats = {
        "pairs_in": len(split),
        "pairs_out": len(encoded),
        f"pairs_{'dropped' if params.overflow == 'drop' else 'truncated'}": int(over.sum()),
        **{f"{side}_tokens": _describe(lengths[side]) for side in SIDES},
    }
    return encoded, stats


def _truncate(row: dict, max_length: int, tokenizer: PreTrainedTokenizerBase) -> dict:
    """Cut a side to ``max_length`` tokens, keeping its closing special token (BERT's [SEP])."""
    out = {}
    for side in SIDES:
        ids = row[f"{side}_ids"]
        if len(ids) > max_length:
            last = ids[-1] if ids[-1] in tokenizer.all_special_ids else None
            ids = [*ids[: max_length - 1], last] if last is not None else ids[:max_length]
        out[f"{side}_ids"] = ids
    return out


def _describe(lengths: np.ndarray) -> dict:
    if lengths.size == 0:
        return {"mean": 0.0, "p50": 0, "p95": 0, "max": 0}
    return {
        "mean": round(float(lengths.mean()), 2),
        "p50": int(np.percentile(lengths, 50)),
        "p95": int(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
    }


def _pin_fingerprints(folder: Path) -> None:
    """Replace each split's ``datasets`` fingerprint with a hash of its data.

    ``datasets`` derives it from the source file's path and modification time, so identical
    runs would write different ``state.json`` files and DVC would re-run train for nothing.
    """
    for state_file in folder.glob("*/state.json"):
        state = json.loads(state_file.read_text())
        digest = hashlib.sha256()
        for data_file in state["_data_files"]:
            with (state_file.parent / data_file["filename"]).open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        state["_fingerprint"] = digest.hexdigest()[:16]
        state_file.write_text(json.dumps(state, indent=2, sort_keys=True))


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    # train, test and any further held-out split prepare made (e.g. test_seen_topics)
    files = {path.stem: str(path) for path in sorted(PREPARED_DIR.glob("*.jsonl"))}
    if not {"train", "test"} <= files.keys() or not (PREPARED_DIR / "stats.json").exists():
        raise UserError(f"{PREPARED_DIR} is missing: run `dvc repro prepare` first.")
    prepared = load_dataset("json", data_files=files)
    tokenizer = load_tokenizer(params.model)
    prepare_stats = json.loads((PREPARED_DIR / "stats.json").read_text())
    data_format = prepare_stats.get("format", {"type": "standard", "prompt": "explicit"})
    rendering = rendering_spec(data_format, tokenizer, params.featurize.use_chat_template)
    template = params.featurize.template
    # Travels with the features into the model's metadata, so scoring renders text identically.
    features, stats = (
        DatasetDict(),
        {"template": template, "rendering": rendering, "max_length": params.featurize.max_length},
    )
    for name, split in prepared.items():
        rendered = render_split(split, template, rendering, tokenizer)
        features[name], stats[name] = tokenize_split(rendered, tokenizer, params.featurize)
        if len(features[name]) == 0:
            raise UserError(
                f"featurize: no {name} pairs fit featurize.max_length = "
                f"{params.featurize.max_length} tokens; raise it or use overflow: truncate."
            )
        if "margin" in split.column_names:
            stats[name]["pairs_with_margin"] = sum(m is not None for m in features[name]["margin"])
    with atomic_dir(FEATURES_DIR) as out:
        features.save_to_disk(str(out))
        _pin_fingerprints(out)
        (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    summary = {key: value for key, value in stats.items() if key != "rendering"}
    print(f"featurize: {json.dumps(summary)}, chat template: {bool(rendering['chat_template'])}")


if __name__ == "__main__":
    run_main(main)
