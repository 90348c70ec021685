"""Tiny preference sets in the layouts of the Hub sets researchers use, written offline.

Each writer lays a folder out as the Hub serves a dataset repo (``data/<split>-00000-of-00001
.parquet`` plus a ``README.md`` card whose ``configs``/``data_files`` YAML names the splits), so
``load_dataset(folder)``, ``data.source: <folder>`` and a Hub cache snapshot read it the way they
would read the real set. Column names and value shapes follow the real cards:

- ``Anthropic/hh-rlhf``: ``chosen``/``rejected`` whole transcripts, the prompt implicit; train/test.
- ``HuggingFaceH4/ultrafeedback_binarized``: ``prompt`` text, ``chosen``/``rejected``/``messages``
  message lists that start with the user turn, ``score_chosen``/``score_rejected``, ``prompt_id``;
  splits ``train_prefs``/``test_prefs``.
- ``Dahoas/synthetic-instruct-gptj-pairwise``: ``prompt``/``chosen``/``rejected`` texts; train only.
- ``allenai/reward-bench``: ``prompt``, ``chosen``, ``chosen_model``, ``rejected``,
  ``rejected_model``, ``subset``, ``id``; split ``filtered``.
- ``allenai/reward-bench-2``: ``prompt`` text, ``chosen``/``rejected`` *lists* of texts,
  ``num_correct``, ``num_rejected``, ``total_completions``, ``models``, ``subset``, ``id`` (Ties
  rows ``ref:N``/``tied:N``); split ``test``.

Shared by the format, evaluation-set and RLHF tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

TOPICS = ["rain", "stars", "bread", "ships", "trees", "music", "coffee", "rivers"]
REWARD_BENCH_SUBSETS = ["alpacaeval-easy", "mt-bench-hard", "refusals-dangerous", "math-prm"]
REWARD_BENCH_2_SUBSETS = ["Factuality", "Math", "Precise IF"]


def write_hub_folder(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """One parquet file per split under ``data/`` and a card whose YAML maps the splits."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    card = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, rows in splits.items():
        pd.DataFrame(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
        card += [f"  - split: {split}", f"    path: data/{split}-*"]
    card += ["---", "", f"# {folder.name}", "", "Written by tests/hub_fixtures.py.", ""]
    (folder / "README.md").write_text("\n".join(card))
    return folder


def hh_rlhf_row(i: int) -> dict[str, str]:
    """A transcript pair; every third one has two turns (the first answer shared)."""
    topic = TOPICS[i % len(TOPICS)]
    prompt = f"\n\nHuman: What should I know about {topic}? (question {i})\n\nAssistant:"
    if i % 3 == 2:
        prompt = (
            f"\n\nHuman: Tell me about {topic}.\n\nAssistant: Gladly, {topic} is a big subject."
            f"\n\nHuman: Give me one fact (question {i}).\n\nAssistant:"
        )
    # Both answers start alike ("I"), so the shared prefix runs past the turn boundary.
    return {
        "chosen": f"{prompt} I can help: {topic} is studied by experts.",
        "rejected": f"{prompt} I refuse to answer that.",
    }


def ultrafeedback_row(i: int) -> dict:
    topic = TOPICS[i % len(TOPICS)]
    prompt = f"Explain {topic} briefly (question {i})."

    def conversation(answer: str) -> list[dict[str, str]]:
        return [{"content": prompt, "role": "user"}, {"content": answer, "role": "assistant"}]

    chosen = conversation(f"Here is a fact about {topic}: it is studied by experts.")
    return {
        "prompt": prompt,
        "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
        "chosen": chosen,
        "rejected": conversation("I refuse to answer that."),
        "messages": chosen,
        "score_chosen": 8.0 + (i % 3) * 0.5,
        "score_rejected": 3.0 + (i % 2),
    }


def dahoas_row(i: int) -> dict[str, str]:
    topic = TOPICS[i % len(TOPICS)]
    return {
        "prompt": f"Tell me one fact about {topic} (question {i}).",
        "chosen": f"Here is a fact about {topic}: it is studied by experts.",
        "rejected": "I refuse to answer that.",
    }


def reward_bench_row(i: int) -> dict:
    return {
        **dahoas_row(i),
        "chosen_model": "gpt-4",
        "rejected_model": "tiny-lm",
        "subset": REWARD_BENCH_SUBSETS[i % len(REWARD_BENCH_SUBSETS)],
        "id": i,
    }


def reward_bench_2_row(
    i: int, subset: str, row_id: str, chosen: int = 1, rejected: int = 3
) -> dict:
    """A best-of-4 row (or, in Ties, one correct and many, or several correct and some wrong)."""
    topic = TOPICS[i % len(TOPICS)]
    return {
        "prompt": f"Tell me one fact about {topic} (question {i}).",
        "chosen": [
            f"Here is a fact about {topic} ({j}): it is studied by experts." for j in range(chosen)
        ],
        "rejected": [f"I refuse to answer that ({j})." for j in range(rejected)],
        "num_correct": chosen,
        "num_rejected": rejected,
        "total_completions": chosen + rejected,
        "models": ["gpt-4"] * chosen + ["tiny-lm"] * rejected,
        "subset": subset,
        "id": row_id,
    }


def write_reward_bench_2(folder: Path, prompts: int = 6, ties: int = 1) -> Path:
    """``prompts`` best-of-4 rows over three subsets, then ``ties`` Ties prompts (a ``ref`` row
    with one correct completion, a ``tied`` row with three correct and two wrong)."""
    rows = [reward_bench_2_row(i, REWARD_BENCH_2_SUBSETS[i % 3], str(i)) for i in range(prompts)]
    for n in range(ties):
        i = prompts + 2 * n
        rows.append(reward_bench_2_row(i, "Ties", f"ref:{n}"))
        rows.append(reward_bench_2_row(i + 1, "Ties", f"tied:{n}", chosen=3, rejected=2))
    return write_hub_folder(folder, {"test": rows})


def write_hh_rlhf(folder: Path, train: int = 40, test: int = 12) -> Path:
    rows = [hh_rlhf_row(i) for i in range(train + test)]
    return write_hub_folder(folder, {"train": rows[:train], "test": rows[train:]})


def write_ultrafeedback(folder: Path, train: int = 40, test: int = 12) -> Path:
    rows = [ultrafeedback_row(i) for i in range(train + test)]
    return write_hub_folder(folder, {"train_prefs": rows[:train], "test_prefs": rows[train:]})


def write_dahoas(folder: Path, train: int = 50) -> Path:
    return write_hub_folder(folder, {"train": [dahoas_row(i) for i in range(train)]})


def write_reward_bench(folder: Path, filtered: int = 48) -> Path:
    return write_hub_folder(folder, {"filtered": [reward_bench_row(i) for i in range(filtered)]})


# Layout name → (writer, the params that read it: copy-paste equal to the README's table but for
# data.source, which is the folder here and the Hub id there).
LAYOUTS: dict[str, tuple[Callable[[Path], Path], dict]] = {
    "hh-rlhf": (write_hh_rlhf, {"split": "train", "test_split": "test"}),
    "ultrafeedback": (
        write_ultrafeedback,
        {
            "split": "train_prefs",
            "test_split": "test_prefs",
            "columns": {"score_chosen": "score_chosen", "score_rejected": "score_rejected"},
        },
    ),
    "dahoas": (write_dahoas, {"split": "train"}),
    "reward-bench": (
        write_reward_bench,
        {"split": "filtered", "columns": {"category": "subset"}},
    ),
}
