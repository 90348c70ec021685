"""The sections of ``reports/report.md`` about this run: its headline figures against the
baselines, every other set (pairwise and best-of-N), and the reference reward models; with the
small formatting helpers every section of the report shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardlab.evaluation.rewardbench import convention
from rewardlab.evaluation.stats import bucket_order
from rewardlab.tools.figures import SET_LABELS, evaluation_sets
from rewardlab.tools.significance import vs_trained_mark

LENGTH_NAMES = {
    "chosen_shorter": "chosen clearly shorter",
    "similar": "similar length",
    "chosen_longer": "chosen clearly longer",
}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def with_ci(block: dict[str, Any]) -> str:
    ci = block.get("win_rate_ci95") or {}
    if not ci:
        return percent(block.get("win_rate"))
    return f"{percent(block.get('win_rate'))} [{percent(ci['low'])}, {percent(ci['high'])}]"


def number(value: Any, signed: bool = False) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-" if value is None else str(value)
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; cells are escaped so a template param cannot break its row."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", "\\n")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def run_section(metrics: dict[str, Any]) -> str:
    baselines = table(
        ["scorer (same held-out pairs)", "win rate"],
        [
            ["trained reward model [95% CI]", with_ci(metrics)],
            [
                "untrained model (same base, fresh score head)",
                percent(metrics["untrained_win_rate"]),
            ],
            ['"the longer response wins"', percent(metrics["longer_wins_rate"])],
            ["random rewards (expected 50%)", percent(metrics["random_win_rate"])],
        ],
    )
    groups = [
        [kind, LENGTH_NAMES.get(name, name), block["pairs"], with_ci(block),
         percent(block["untrained_win_rate"]), percent(block["longer_wins_rate"])]
        for kind, key in (("length difference", "by_length_diff"), ("tokens", "by_tokens"))
        for name, block in ((n, metrics[key][n]) for n in bucket_order(metrics[key]))
    ]  # fmt: skip
    buckets = table(
        ["bucket by", "bucket", "pairs", "win rate [95% CI]", "untrained", "longer wins"], groups
    )
    bins = [
        [name, b["pairs"], "-" if b["predicted"] is None else f"{b['predicted']:.3f}",
         "-" if b["observed"] is None else f"{b['observed']:.3f}"]
        for name, b in metrics["calibration"]["bins"].items()
        if b["pairs"]
    ]  # fmt: skip
    return "\n\n".join(
        [
            f"## This run\n\nWin rate on **{metrics['pairs']} held-out pairs**: "
            f"**{with_ci(metrics)}** (95% bootstrap CI; a tie counts as a loss). "
            f"Mean margin {metrics['mean_margin']:.3f}.",
            baselines,
            "### Where length cannot explain it\n\nLength buckets compare the chosen response's "
            "length in characters with the rejected one's; token buckets use the pair's longer "
            "side before truncation.",
            buckets,
            f"### Calibration\n\nExpected calibration error **{metrics['calibration']['ece']:.3f}**"
            ": pairs binned by the model's confidence sigmoid(|margin|), against the fraction of "
            "them it ranks right (non-empty bins).",
            table(["confidence bin", "pairs", "predicted", "observed"], bins),
        ]
    )


def sets_section(metrics: dict[str, Any]) -> str:
    """Every evaluation set side by side, then each one's categories and RewardBench sections."""
    sets = evaluation_sets(metrics)
    overview = table(
        ["set", "pairs", "win rate [95% CI]", "untrained", "longer wins", "random"],
        [
            [
                SET_LABELS.get(name, name),
                counted(block),
                with_ci(block),
                percent(block.get("untrained_win_rate")),
                percent(block.get("longer_wins_rate")),
                percent(block.get("random_win_rate")),
            ]
            for name, block in sets.items()
        ],
    )
    parts = [
        "## Evaluation sets\n\nThe headline held-out split and every extra set "
        "(`evaluate.sets`, and held-out splits other than `test`), each under its own baselines. "
        "A best-of-N set counts prompts: its win rate is the share whose correct completion "
        "outscores every incorrect one (ties at the top share the credit), its random baseline "
        "the chance of a random pick.",
        overview,
    ]
    for name, block in sets.items():
        name = SET_LABELS.get(name, name)
        if block.get("by_category"):
            rows = [
                [category, group["pairs"], with_ci(group),
                 percent(group["untrained_win_rate"]), percent(group["longer_wins_rate"])]
                for category, group in sorted(block["by_category"].items())
            ]  # fmt: skip
            parts += [
                f"### {name}: per category",
                table(["category", "pairs", "win rate [95% CI]", "untrained", "longer wins"], rows),
            ]
        if block.get("sections"):
            parts += [
                f"### {name}: RewardBench sections\n\nSubset accuracies weighted as RewardBench "
                "weights them (`src/rewardlab/rewardbench.yaml`).",
                table(
                    ["section", "score"],
                    [
                        [section, percent(block["sections"][section])]
                        for section in convention()["sections"]  # RewardBench's order
                        if section in block["sections"]
                    ],
                ),
            ]
        if block.get("rewardbench2"):
            scores = block["rewardbench2"]
            parts += [
                f"### {name}: RewardBench 2 scores\n\nEach subset as the `rewardbench` package "
                "scores it (Ties: its weighted score) and their mean "
                "(`src/rewardlab/evaluation/rewardbench2.yaml`).",
                table(
                    ["subset", "score"],
                    [[subset, percent(v)] for subset, v in scores["by_subset"].items()]
                    + [["**overall**", percent(scores["overall"])]],
                ),
            ]
    return "\n\n".join(parts)


def counted(block: dict[str, Any]) -> str:
    """Pairs, or a best-of-N set's prompts and completions per prompt."""
    if "completions_per_prompt" in block:
        return f"{block['pairs']} prompts (best of {block['completions_per_prompt']:.3g})"
    return str(block["pairs"])


def references_section(metrics: dict[str, Any]) -> str:
    """Each reference model's win rate beside the trained model's, set by set, with the paired
    test (reference - trained): the difference and p where it is beyond noise, else ≈."""
    references = metrics.get("references") or {}
    if not references:
        return ""
    rows = []
    for name, block in evaluation_sets(metrics).items():
        cells = [SET_LABELS.get(name, name), counted(block), percent(block.get("win_rate"))]
        for reference in references.values():
            figures = reference if name == "test" else (reference.get("sets") or {}).get(name)
            if not figures:
                cells.append("-")
                continue
            mark = vs_trained_mark(figures.get("vs_trained"))
            cells.append(f"{percent(figures.get('win_rate'))} ({mark})")
        rows.append(cells)
    header = ["set", "pairs", "trained", *(f"{name}" for name in references)]
    return (
        "## Reference reward models\n\nEach `evaluate.references` model on the trained model's "
        "pairs (references stage). In brackets, the paired test of reference - trained: the "
        "difference and its exact McNemar p-value where it is beyond noise (p < 0.05), ≈ where "
        "no difference is detectable. A best-of-N set is compared over its prompts (its win rate "
        "is the best-of-N accuracy; ties at the top share the credit, McNemar counts the prompts "
        "with full credit).\n\n" + table(header, rows)
    )
