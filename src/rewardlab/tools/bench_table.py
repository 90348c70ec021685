"""The markdown table ``rewardlab bench`` prints: one row per model, workload, data and recipe.

Ratios are of real tokens/s against the same model, data and workload's tutorial, plain-TRL and
rewardlab rows (blank where that row is not measured). Two MFU columns: against the best
square matmul of the run, and against the model's own matmul shapes (``roofline``).
"""

from __future__ import annotations

from typing import Any

NOT_NATIVE = "bf16: not native on this CPU"  # said in place of the rows it would have
HEADER = [
    "model",
    "data",
    "workload",
    "recipe",
    "precision",
    "real tokens/s",
    "pairs/s",
    "vs tutorial",
    "vs TRL",
    "vs rewardlab",
    "MFU (square roof)",
    "MFU (model's shapes)",
    "pairs timed",
    "held-out accuracy",
    "same winner as the loop",
]
BASELINES = ("tutorial", "trl", "rewardlab")


def _rows(name: str, data: str, workload: str, rows: dict[str, dict]) -> list[list[str]]:
    out = []
    for recipe, s in rows.items():
        vs = [
            f"{s['tokens_per_s'] / rows[r]['tokens_per_s']:.2f}x" if r in rows else ""
            for r in BASELINES
        ]
        accuracy = f"{s['accuracy']:.3f}" if "accuracy" in s else ""
        if "accuracy_from" in s:
            accuracy += " *"
        agreement = s.get("winner_agreement")
        out.append(
            [
                name,
                data,
                workload,
                recipe,
                s["precision"],
                f"{s['tokens_per_s']:,.0f}",
                f"{s['pairs_per_s']:.2f}",
                *vs,
                f"{s['mfu']:.1%}",
                f"{s['mfu_model_shapes']:.1%}",
                str(s["pairs_trained"]) if workload == "train" else "",
                accuracy,
                "" if agreement is None else f"{agreement:.1%}",
            ]
        )
    return out


def _roof_line(name: str, entry: dict[str, Any]) -> str:
    parts = []
    for data, roof in entry["model_roof"].items():
        figures = ", ".join(
            f"{precision} {r['train'] / 1e9:.0f} training / {r['score'] / 1e9:.0f} forward"
            for precision, r in roof.items()
            if precision != "tokens"
        )
        parts.append(f"{data} ({roof['tokens']:,} tokens a micro-batch) {figures}")
    return f"{name}: its own matmul shapes reach GFLOP/s " + "; ".join(parts) + "."


def table(result: dict[str, Any]) -> str:
    """Markdown: the machine and roofs, then one row per measurement, then how to read it."""
    m, peaks, load = result["machine"], result["peak_flops"], result["load_average"]
    roofs = [f"{name} {flops / 1e9:.0f} GFLOP/s" for name, flops in peaks.items()]
    lines = [
        f"{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads; best square "
        f"matmul {', '.join(roofs)}; 1-min load average {load['start'][0]:.2f} at start, "
        f"{load['end'][0]:.2f} at end; {result['date']}"
        + (f"; {result['wall_seconds'] / 60:.1f} min" if "wall_seconds" in result else ""),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" if i < 5 else "--:" for i in range(len(HEADER))) + "|",
    ]
    cells: list[list[str]] = []
    for name, entry in result["models"].items():
        for workload in ("train", "score"):
            cells += _rows(name, "builtin", workload, entry.get(workload, {}))
        if entry.get("untrained_accuracy") is not None:
            blank = [""] * (len(HEADER) - 8)
            untrained = f"{entry['untrained_accuracy']:.3f}"
            cells.append([name, "builtin", "", "untrained", "fp32", *blank, "0", untrained, ""])
        if "multi_turn" in entry:
            cells += _rows(name, "multi-turn", "train", entry["multi_turn"]["train"])
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    pairs = result["settings"]["pairs"]
    lines += [
        "",
        f"Accuracy is on the held-out pairs after all {pairs} training pairs, for every recipe.",
    ]
    for data, stats in result.get("workloads", {}).items():
        mean = sum(s["mean"] for s in stats["tokens_per_sequence"].values()) / 2
        lines.append(
            f"{data}: {mean:.0f} tokens a sequence on average, the prompt "
            f"{stats['prompt_share']:.0%} of them."
        )
    if "bf16" not in peaks:  # bench leaves emulated bf16 out
        lines.append(f"{NOT_NATIVE}: no bf16 rows; plain TRL runs in fp32, not its bf16 default.")
    for name, entry in result["models"].items():
        lines.append(_roof_line(name, entry))
        if "score" not in entry:
            continue
        ceilings = " or ".join(
            f"{x:.1f}x in {p}" for p, x in entry["speedup"]["score_ceiling"].items()
        )
        lines.append(
            f"{name}: the tutorial's loop already runs at {entry['score']['tutorial']['mfu']:.0%} "
            f"of the fp32 roof, so no scorer here can beat it by more than {ceilings}."
        )
    if any(row[-2].endswith("*") for row in cells):
        lines.append(
            "* Cut short by --max-seconds: finished untimed without padding to the maximum, "
            "which changes the speed, not the math."
        )
    return "\n".join(lines)
