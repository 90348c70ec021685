"""``rewardlab export``: the LoRA reward model as one standalone ``transformers`` folder.

    rewardlab export --model models/reward_model --out exported_rm

A LoRA reward model whose freshly initialised score head is not saved reloads with random scores
(a long-standing complaint in TRL, OpenRLHF, LLaMA-Factory and xtuner). Here the adapter is merged
into the base and the merged weights, trained head included, are saved with the tokenizer, so
``AutoModelForSequenceClassification.from_pretrained(DIR)`` or
``pipeline("text-classification", model=DIR, function_to_apply="none")`` load it with nothing
newly initialised. Before the folder appears, it is reloaded and must reproduce the rewards of
the model it came from; otherwise nothing is written.

The folder does not carry the prompt template: format inputs with the ``template`` recorded in
its ``rewardlab.json`` (e.g. ``"\\n\\nHuman: {prompt}\\n\\nAssistant: {response}"``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from rewardlab.errors import UserError, run_main
from rewardlab.modeling import load_reward_model, read_metadata, write_metadata
from rewardlab.outputs import atomic_dir
from rewardlab.scoring import score_responses

PROBES = (
    ("How do I keep bread fresh?", "Store it in a paper bag at room temperature."),
    ("How do I keep bread fresh?", "I will not answer that."),
    ("Name a planet.", "Mars is the fourth planet from the Sun."),
)
TOLERANCE = 1e-4  # same weights, same inputs: only float summation order may differ


def check_round_trip(folder: Path, model: PreTrainedModel, tokenizer, metadata: dict) -> None:
    """Reload ``folder`` with plain transformers; fail unless every weight and reward survives."""
    reloaded, info = AutoModelForSequenceClassification.from_pretrained(
        folder, output_loading_info=True
    )
    problems = {key: sorted(info[key]) for key in ("missing_keys", "unexpected_keys") if info[key]}
    if problems or info["mismatched_keys"]:
        raise RuntimeError(f"export: {folder} does not reload cleanly: {problems}")
    prompts, responses = zip(*PROBES, strict=True)
    before = score_responses(model, tokenizer, metadata, prompts, responses)
    after = score_responses(reloaded.eval(), tokenizer, metadata, prompts, responses)
    if not np.allclose(before, after, atol=TOLERANCE):
        raise RuntimeError(f"export: rewards changed on reload: {before} -> {after}")


def export(model_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the merged, standalone model to ``out``; return its metadata."""
    out = Path(out)
    # ``out`` is replaced as a whole, so it must be empty or an earlier export, never, say, ``.``.
    occupied = out.exists() and (out.is_file() or any(out.iterdir()))
    if occupied and "exported_from" not in _metadata_or_empty(out):
        raise UserError(
            f"--out {out} exists and is not an earlier export; it would be replaced as a whole. "
            "Pass a new folder."
        )
    model, tokenizer, metadata = load_reward_model(model_dir)
    # GPT-2 has no pad token of its own; without the id in the config, batches cannot be scored.
    model.config.pad_token_id = tokenizer.pad_token_id
    metadata = {**metadata, "exported_from": str(model_dir)}
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_metadata(tmp, metadata)
        check_round_trip(tmp, model, tokenizer, metadata)
    return metadata


def _metadata_or_empty(folder: Path) -> dict[str, Any]:
    try:
        return read_metadata(folder)
    except (UserError, ValueError):
        return {}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rewardlab export", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", required=True, help="trained model folder (models/reward_model)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (replaced)")
    args = parser.parse_args(argv)
    metadata = export(args.model, args.out)
    rendering = metadata.get("rendering") or {}
    how = (
        "render conversations with the tokenizer's chat template"
        if rendering.get("chat_template")
        else f"format inputs as {metadata['template']!r}"
    )
    print(f"export: wrote {args.out}; load it with AutoModelForSequenceClassification and {how}")


if __name__ == "__main__":
    run_main(main)
