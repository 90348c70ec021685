"""Rated completions in UltraFeedback's raw layout (``openbmb/UltraFeedback``, train split),
written offline, and the README's copy-paste params for them (less the Hub id)."""

from __future__ import annotations

from pathlib import Path

from hub_fixtures import write_hub_folder

MODELS = ["alpaca-7b", "gpt-4", "llama-2-7b-chat", "wizardlm-13b"]


def ultrafeedback_rows(n: int) -> list[dict]:
    """UltraFeedback's raw layout (openbmb/UltraFeedback, train split): four rated completions
    per instruction, each a mapping with the model, its response and its scores."""
    return [
        {
            "source": "evol_instruct" if i % 2 else "flan_v2_niv2",
            "instruction": f"Question {i}: how do {'ships float' if i % 2 else 'trees grow'}?",
            "models": MODELS,
            "completions": [
                {
                    "model": model,
                    "response": f"{model} says: answer {i}.",
                    "overall_score": score,
                    "fine-grained_score": score / 2,
                    "annotations": {"helpfulness": {"Rating": "4", "Rationale": "clear"}},
                    "critique": "fine",
                    "custom_system_prompt": "",
                    "principle": "helpfulness",
                }
                for model, score in zip(
                    MODELS,
                    [6.5, 9, 6.5, 3] if i % 3 else [5, 5, 5, 5],
                    strict=True,
                )
            ],
            "correct_answers": ["None"],
            "incorrect_answers": ["None"],
        }
        for i in range(n)
    ]


def write_ultrafeedback_raw(folder: Path, rows: int = 30) -> Path:
    """A folder in the Hub's layout (parquet: the completions a list of structs, as Arrow
    stores the real set)."""
    return write_hub_folder(folder, {"train": ultrafeedback_rows(rows)})


ULTRAFEEDBACK = {  # the README's copy-paste params, less the Hub id
    "split": "train",
    "pairs_from": "best_vs_rest",
    "pairs_margin": True,
    "columns": {
        "prompt": "instruction",
        "completions": "completions",
        "completion_text": "response",
        "completion_scores": "overall_score",
        "category": "source",
    },
}
