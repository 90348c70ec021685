"""Stage 2, featurize: canonical pairs → the texts the model reads → token ids for TRL.

Rendering lives here because it depends on the tokenizer: conversations use the tokenizer's own
chat template when it has one (``featurize.use_chat_template``), anything else the role template
``featurize.template`` (``rendering.render_text`` decides, for training and scoring alike). How
it rendered is recorded in ``stats.json`` and from there in the model's ``rewardlab.json``.

Tokenizing once here, cached by DVC, means training and evaluation never re-tokenize, and a
change of training params never re-runs it. Length is limited in *tokens* on *both* sides
(the tutorial filtered on characters and joined the two sides with ``or``, which kept pairs where
only one side fit). No padding is stored: batches are padded dynamically at train/score time.

For a decoder base the prompt and the answer are tokenized apart and joined (``tokenizing``), so
both sides of a pair begin with the same prompt ids and training can share them
(``train.prefix_sharing``); ``stats.json`` then records ``tokenization: prompt+response`` and,
per split, how many pairs got other ids than tokenizing their whole texts (``pairs_retokenized``).
Encoders (the default MiniLM) tokenize the whole text, as they always did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from datasets import DatasetDict, load_dataset
from transformers import AutoConfig

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_dir
from rewardlab.core.params import FeaturizeParams, params_from_argv
from rewardlab.core.paths import FEATURES_DIR, PREPARED_DIR
from rewardlab.data.rendering import rendering_spec
from rewardlab.data.tokenizing import APART, render_split, tokenize_split
from rewardlab.model.loading import load_tokenizer, resolve_model_path
from rewardlab.model.prefix_sharing import decoder_only


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
    apart = decoder_only(
        AutoConfig.from_pretrained(
            resolve_model_path(params.model.name_or_path),
            trust_remote_code=params.model.trust_remote_code,
        )
    )
    if apart:
        stats["tokenization"] = APART
    for name, split in prepared.items():
        rendered = render_split(split, template, rendering, tokenizer, apart)
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
    print(summary_line(stats, params.featurize, bool(rendering["chat_template"])))


def summary_line(stats: dict, params: FeaturizeParams, chat_template: bool) -> str:
    """What came in, what went out and what the token budget cost; lengths are in stats.json."""
    splits = {name: block for name, block in stats.items() if isinstance(block, dict)}
    splits.pop("rendering", None)
    pairs_in = sum(block["pairs_in"] for block in splits.values())
    went_out = ", ".join(f"{block['pairs_out']} {name}" for name, block in splits.items())
    action = "dropped" if params.overflow == "drop" else "truncated"
    over = sum(block.get(f"pairs_{action}", 0) for block in splits.values())
    cost = f"{over} over the budget {action}" if over else "all within the budget"
    rendering = "chat template" if chat_template else "role template"
    line = (
        f"featurize: {pairs_in} pairs -> {went_out} ({rendering}, <= {params.max_length} "
        f"tokens a side); {cost}"
    )
    if stats.get("tokenization") == APART:
        changed = sum(block.get("pairs_retokenized", 0) for block in splits.values())
        line += f"; prompt tokenized apart ({changed} pairs' ids differ from the whole text's)"
    return line


if __name__ == "__main__":
    run_main(main)
