"""The model card (``README.md``) of a reward model folder, written from what the pipeline knows.

Train writes the adapter folder's card before evaluate has run, so that card has no results (a
stage writes only its own outputs); ``rewardlab export`` writes the full card, with every
evaluation set of ``reports/metrics.json`` and the reward statistics. Nothing here is a
placeholder and no machine path appears: local folders and files are named by their last part.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCardData

from rewardlab.model.contract import PADDING_SIDE
from rewardlab.model.loading import portable_name

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
RATE_KEYS = ("pairs", "win_rate", "win_rate_ci95", "untrained_win_rate", "longer_wins_rate")


def _hub_id(name: str) -> str | None:
    """``name`` when it reads as a Hub id and is not a local path, else None."""
    return name if HUB_ID.match(name) and not Path(name).exists() else None


def _shown(name: str) -> str:
    """A Hub id as is; a local path by its last part only (no machine path in a card)."""
    return _hub_id(name) or f"a local folder or file named `{Path(name).name}`"


def base_model(metadata: dict[str, Any]) -> str:
    """The base's portable name (models trained before it was recorded: from the params)."""
    return metadata.get("base_model") or portable_name(metadata["model"]["name_or_path"])


def card_data(metadata: dict[str, Any], exported: bool) -> ModelCardData:
    base = base_model(metadata)
    source = (metadata.get("data") or {}).get("source", "")
    return ModelCardData(
        base_model=_hub_id(base),
        library_name="transformers" if exported else "peft",
        pipeline_tag="text-classification",
        tags=["reward-model", "rlhf", "trl", "rewardlab", *([] if exported else ["lora"])],
        datasets=[source] if source not in ("", "builtin") and _hub_id(source) else None,
        license=None,
    )


def _results_table(metrics: dict[str, Any]) -> list[str]:
    rows = {"test (held out)": metrics, **metrics.get("sets", {})}
    lines = [
        "| set | pairs | win rate | 95% CI | untrained | longer wins |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        ci = m["win_rate_ci95"]
        lines.append(
            f"| {name} | {m['pairs']} | {m['win_rate']:.3f} | {ci['low']:.3f}-{ci['high']:.3f} "
            f"| {m['untrained_win_rate']:.3f} | {m['longer_wins_rate']:.3f} |"
        )
    for name, m in rows.items():
        if m.get("sections"):
            scores = ", ".join(f"{k} {v:.3f}" for k, v in m["sections"].items())
            lines.append(f"\nRewardBench sections on `{name}`: {scores}.")
    return lines


def _data_line(metadata: dict[str, Any]) -> str:
    data = metadata.get("data") or {}
    source = data.get("source", "builtin")
    rendering = metadata.get("rendering") or {}
    fmt = rendering.get("format", "standard")
    what = (
        "rewardlab's builtin generated preference pairs (English, everyday requests; offline)"
        if source == "builtin"
        else _shown(source) + (f", split `{data['split']}`" if data.get("split") else "")
    )
    return f"- Data: {what}; format: {fmt} (prompt, chosen, rejected)."


def model_card(
    metadata: dict[str, Any], metrics: dict[str, Any] | None, folder_name: str, exported: bool
) -> str:
    """The card's full text. ``metrics``: evaluate's, or None where there are none yet."""
    max_length, template = metadata["max_length"], metadata["template"]
    stats = metadata.get("reward_stats")
    own_template = (metadata.get("rendering") or {}).get("chat_template")
    lora, train = metadata.get("lora", {}), metadata.get("train", {})
    lines = [
        f"# Reward model `{folder_name}`",
        "",
        "A scalar reward model trained with the rewardlab pipeline (TRL "
        "`RewardTrainer`, pairwise loss, LoRA): higher means the response is the one people "
        "would prefer. "
        + (
            "This folder is standalone: the LoRA adapter is merged into the base."
            if exported
            else "This folder holds the LoRA adapter and the trained score head; "
            "`rewardlab export` merges them into a standalone folder."
        ),
        "",
        "## Training",
        "",
        f"- Base model: {_shown(base_model(metadata))}.",
        _data_line(metadata),
        f"- Text the model reads: role template {json.dumps(template)}"
        + (" rendered through the tokenizer's own chat template." if own_template else "."),
        f"- Maximum length: {max_length} tokens, special tokens included; longer texts are "
        f"truncated on the right (closing special token kept). Padding side: {PADDING_SIDE}.",
        f"- LoRA r={lora.get('r')}, alpha={lora.get('alpha')}, dropout={lora.get('dropout')}; "
        f"learning rate {train.get('learning_rate')}, "
        f"batch {train.get('per_device_train_batch_size')}"
        f", epochs {train.get('num_train_epochs')}, max steps {train.get('max_steps')}, seed "
        f"{train.get('seed')}, precision {metadata.get('precision')}"
        + (f", {metadata['attention']} attention." if "attention" in metadata else "."),
        *_sharing_lines(metadata),
        "",
        "## Evaluation",
        "",
    ]
    if metrics:
        lines += [
            "Win rate = share of held-out pairs where the chosen response gets the higher reward "
            '(bootstrap 95% CI); baselines: the untrained model and "the longer response wins".',
            "",
            *_results_table(metrics),
        ]
    else:
        lines.append(
            "Not evaluated yet in this folder: `dvc repro evaluate` writes reports/metrics.json, "
            "and `rewardlab export` writes a card with the results."
        )
    lines += ["", "## Reward scale", ""]
    if stats:
        lines.append(
            f"On the training split ({stats['n']} responses, chosen and rejected together) "
            f"rewards have mean {stats['mean']:.4f} and std {stats['std']:.4f}. "
            + (
                "This export has them folded into the score head: it emits standardised "
                "rewards (mean 0, std 1 on the training split)."
                if metadata.get("normalized")
                else "Standardise with (reward - mean) / std, or export with `--normalize`."
            )
        )
    else:
        lines.append("No reward statistics yet: `dvc repro evaluate` computes them.")
    lines += _usage(folder_name if exported else "rm", template, max_length, exported)
    return f"---\n{card_data(metadata, exported).to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"


def _sharing_lines(metadata: dict[str, Any]) -> list[str]:
    """How a decoder base's pairs were tokenized and trained (nothing for encoders)."""
    lines = []
    if metadata.get("tokenization") == "prompt+response":
        lines.append(
            "- Token ids: the prompt's ids followed by the response's, each tokenized on its "
            "own (cut before the whitespace that opens the response); rewardlab scores alike."
        )
    if metadata.get("prefix_sharing"):
        packed = (
            ", several pairs packed into a row, batches in random order"
            if metadata.get("packing")
            else ""
        )
        lines.append(
            "- Trained with prefix sharing: one sequence per pair, the prompt computed once"
            f"{packed} (the same rewards as scoring each response on its own)."
        )
    return lines


def _usage(folder_name: str, template: str, max_length: int, exported: bool) -> list[str]:
    """How to load it; ``folder_name`` is a standalone folder (an export of this one)."""
    example = template.replace("{prompt}", "How do I keep bread fresh?").replace(
        "{response}", "Keep it in a paper bag."
    )
    return [
        "",
        "## Intended use",
        "",
        "Scoring responses to a prompt, e.g. as the reward of a policy trainer (GRPO, PPO, "
        "RLOO) or for best-of-n selection, on text like the training data. Rewards compare "
        "responses to the same prompt; their absolute value means little.",
        "",
        "## How to use",
        "",
        "With rewardlab (recommended: renders, tokenizes, truncates and pads exactly as in "
        "training, for plain and conversational prompts):",
        "",
        "```python",
        "from rewardlab.rlhf import RewardModelFunction",
        "from trl import GRPOConfig, GRPOTrainer",
        "",
        f'reward = RewardModelFunction("{folder_name}", normalize=True)',
        "trainer = GRPOTrainer(model=policy, reward_funcs=reward, args=GRPOConfig(...), "
        "train_dataset=prompts)",
        "```",
        "",
        *(
            []
            if exported
            else [
                "TRL and `transformers` load a standalone folder: first "
                f"`rewardlab export --model models/reward_model --out {folder_name}` "
                "(add `--normalize` for standardised rewards).",
                "",
            ]
        ),
        "TRL's path-based loading wants *conversational* prompts, which it renders with the "
        "chat template saved with the model; that template carries the special tokens, so the "
        "ids match training:",
        "",
        "```python",
        f'trainer = GRPOTrainer(model=policy, reward_funcs="{folder_name}", ...)',
        "```",
        "",
        "With `transformers` (standalone folder), on text rendered with the template:",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'scorer = pipeline("text-classification", model="{folder_name}", '
        'function_to_apply="none")',
        f"scorer({json.dumps(example)}, truncation=True)[0]['score']",
        "```",
        "",
        "## Limitations",
        "",
        f"- Trained on texts of at most {max_length} tokens: longer inputs are truncated by "
        "rewardlab and by `pipeline(..., truncation=True)`; TRL's GRPO path does not truncate, "
        "so texts past the base's position limit fail there and texts past the trained length "
        "are scored out of distribution.",
        "- TRL's GRPO path with *plain-text* prompts joins prompt and completion without the "
        "template or special tokens; use conversational prompts or rewardlab's reward function.",
        "- Absolute position embeddings: left padding shifts positions and changes rewards. The "
        f"saved tokenizer pins {PADDING_SIDE} padding; rewardlab pads on the right whatever the "
        "tokenizer says.",
        "- A small model trained on narrow data: rewards outside the training distribution "
        "(other languages, long documents, code) are unreliable, and it can be gamed by a "
        "policy optimised against it; watch the policy's outputs, not only the reward.",
    ]
