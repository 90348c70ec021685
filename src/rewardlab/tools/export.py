"""``rewardlab export``: the LoRA reward model as one standalone ``transformers`` folder.

    rewardlab export --model models/reward_model --out exported_rm

A LoRA reward model whose freshly initialised score head is not saved reloads with random scores
(a long-standing complaint in TRL, OpenRLHF, LLaMA-Factory and xtuner). Here the adapter is merged
into the base and the merged weights, trained head included, are saved with the tokenizer, so
``AutoModelForSequenceClassification.from_pretrained(DIR)`` or
``pipeline("text-classification", model=DIR, function_to_apply="none")`` load it with nothing
newly initialised. Before the folder appears, it is reloaded and must reproduce the rewards of
the model it came from; otherwise nothing is written.

The folder carries the tokenization contract (rewardlab.model.contract: a chat template with the
training special tokens, the trained maximum length, right padding), a model card with the
evaluation results of ``--metrics`` (evaluate's, when they belong to this model), and the reward
statistics (mean, std on the training split) in ``config.json`` and ``rewardlab.json``. With
``--normalize`` the statistics are folded into the score head: the folder emits standardised
rewards (mean 0, std 1 on the training split) with no code on the consumer's side.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForSequenceClassification

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_dir
from rewardlab.core.paths import METRICS_FILE, repo_relative
from rewardlab.model.card import model_card
from rewardlab.model.contract import check_contract, pin_tokenizer
from rewardlab.model.loading import load_reward_model, read_metadata, write_metadata
from rewardlab.model.normalization import fold_into_head, stats_for
from rewardlab.model.scoring import score_responses

PROBES = (
    ("How do I keep bread fresh?", "Store it in a paper bag at room temperature."),
    ("How do I keep bread fresh?", "I will not answer that."),
    ("Name a planet.", "Mars is the fourth planet from the Sun."),
)
TOLERANCE = 1e-4  # same weights, same inputs: only float summation order may differ


def check_round_trip(folder: Path, expected: list[float], tokenizer, metadata: dict) -> None:
    """Reload ``folder`` with plain transformers; fail unless every weight and reward survives."""
    reloaded, info = AutoModelForSequenceClassification.from_pretrained(
        folder, output_loading_info=True
    )
    problems = {key: sorted(info[key]) for key in ("missing_keys", "unexpected_keys") if info[key]}
    if problems or info["mismatched_keys"]:
        raise RuntimeError(f"export: {folder} does not reload cleanly: {problems}")
    prompts, responses = zip(*PROBES, strict=True)
    after = score_responses(reloaded.eval(), tokenizer, metadata, prompts, responses)
    if not np.allclose(expected, after, atol=TOLERANCE):
        raise RuntimeError(f"export: rewards changed on reload: {expected} -> {after}")


def export(
    model_dir: str | Path,
    out: str | Path,
    normalize: bool = False,
    metrics_file: Path | None = METRICS_FILE,
) -> dict[str, Any]:
    """Write the merged, standalone model to ``out``; return its metadata.

    ``metrics_file``: evaluate's metrics, for the card's results and the reward statistics; used
    only when they were computed for this model's weights (else a UserError says so).
    """
    out = Path(out)
    # ``out`` is replaced as a whole, so it must be empty or an earlier export, never, say, ``.``.
    occupied = out.exists() and (out.is_file() or any(out.iterdir()))
    if occupied and "exported_from" not in _metadata_or_empty(out):
        raise UserError(
            f"--out {out} exists and is not an earlier export; it would be replaced as a whole. "
            "Pass a new folder."
        )
    metadata = read_metadata(model_dir)
    stats = stats_for(model_dir, metadata, metrics_file, required=normalize)
    metrics = json.loads(metrics_file.read_text()) if stats and metrics_file else None
    model, tokenizer, metadata = load_reward_model(model_dir)
    # GPT-2 has no pad token of its own; without the id in the config, batches cannot be scored.
    model.config.pad_token_id = tokenizer.pad_token_id
    prompts, responses = zip(*PROBES, strict=True)
    expected = score_responses(model, tokenizer, metadata, prompts, responses)
    if normalize:
        fold_into_head(model, stats)
        expected = [(r - stats["mean"]) / stats["std"] for r in expected]
    metadata = {
        **metadata,
        "exported_from": repo_relative(str(model_dir)),
        "normalized": normalize,
        **({"reward_stats": stats} if stats else {}),
    }
    model.config.reward_stats = stats or None  # travels in config.json for any consumer
    model.config.rewards_normalized = normalize
    pin_tokenizer(tokenizer, metadata)
    check_contract(tokenizer, metadata)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_metadata(tmp, metadata)
        (tmp / "README.md").write_text(model_card(metadata, metrics, out.name, exported=True))
        check_round_trip(tmp, expected, tokenizer, metadata)
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
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="fold the training-split reward mean and std into the score head (standardised "
        "rewards)",
    )
    parser.add_argument(
        "--metrics",
        type=Path,
        default=METRICS_FILE,
        help=f"evaluate's metrics for this model: card results, reward statistics "
        f"(default {METRICS_FILE})",
    )
    args = parser.parse_args(argv)
    metadata = export(args.model, args.out, args.normalize, args.metrics)
    stats = metadata.get("reward_stats")
    print(
        f"export: wrote {args.out}"
        + (" (standardised rewards)" if args.normalize else "")
        + (f"; reward mean {stats['mean']:.4f}, std {stats['std']:.4f}" if stats else "")
        + "; its tokenizer's chat template renders inputs as in training"
    )


if __name__ == "__main__":
    run_main(main)
