"""The figures of ``rewardlab report``: one function per picture, each readable on its own.

Every function takes what the pipeline wrote (curves, per-pair scores, metrics) and returns a
matplotlib ``Figure`` built without pyplot, so no display or global state is involved. Each says
in its title what a reader should look at; chance (50%) is drawn wherever a win rate is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from rewardlab.evaluation.stats import bucket_order

SIZE = (7.5, 4.5)
COLORS = {"trained": "#1f77b4", "untrained": "#9e9e9e", "longer": "#ff7f0e"}
SIDE_COLORS = {"chosen": "#2ca02c", "rejected": "#d62728"}
SPLITS = {"train": "train (batches as trained)", "eval": "eval (held-out pairs)"}
SPLIT_COLORS = {SPLITS["train"]: "#9467bd", SPLITS["eval"]: "#1f77b4"}
SET_LABELS = {"test": "test (headline)"}
BUCKET_LABELS = {
    "chosen_shorter": "chosen clearly\nshorter",
    "similar": "similar\nlength",
    "chosen_longer": "chosen clearly\nlonger",
}


def styled(make: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw in seaborn's whitegrid style without changing the caller's matplotlib settings."""

    @functools.wraps(make)
    def wrapper(*args: Any) -> Figure:
        style = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook")}
        with matplotlib.rc_context(style):
            return make(*args)

    return wrapper


def _figure(ncols: int = 1, width: float = SIZE[0]) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, SIZE[1]), layout="constrained")
    return figure, figure.subplots(1, ncols)


def _chance(ax: Any, label: str = "chance (50%)") -> None:
    ax.axhline(0.5, color="black", linestyle="--", linewidth=1, label=label)


def _curve(curves: pd.DataFrame, metric: str, ax: Any) -> None:
    """One metric over training steps, a line per split in fixed colours."""
    data = curves[curves["metric"] == metric].assign(split=lambda d: d["split"].map(SPLITS))
    sns.lineplot(
        data=data, x="step", y="value", hue="split", palette=SPLIT_COLORS, marker="o", ax=ax
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


@styled
def loss_figure(curves: pd.DataFrame) -> Figure:
    figure, ax = _figure()
    _curve(curves, "loss", ax)
    ax.axhline(np.log(2), color="black", linestyle="--", linewidth=1, label="ln 2 = no preference")
    ax.set(
        title="Pairwise loss during training (lower is better)",
        xlabel="training step",
        ylabel=r"loss  $-\log\,\sigma(r_{chosen} - r_{rejected})$",
    )
    ax.legend(title=None)
    return figure


@styled
def accuracy_figure(curves: pd.DataFrame) -> Figure:
    figure, ax = _figure()
    _curve(curves, "accuracy", ax)
    _chance(ax)
    ax.set(
        title="Accuracy during training: share of pairs ranked right",
        xlabel="training step",
        ylabel="accuracy",
        ylim=(0, 1.02),
    )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(title=None, loc="lower right")
    return figure


@styled
def rewards_figure(scores: pd.DataFrame) -> Figure:
    figure, axes = _figure(ncols=2, width=10)
    for ax, (prefix, title) in zip(
        axes, (("untrained_", "Before training"), ("", "After training")), strict=True
    ):
        long = pd.DataFrame(
            {
                "reward": np.concatenate(
                    [scores[f"{prefix}chosen_reward"], scores[f"{prefix}rejected_reward"]]
                ),
                "side": ["chosen"] * len(scores) + ["rejected"] * len(scores),
            }
        )
        sns.histplot(
            data=long, x="reward", hue="side", palette=SIDE_COLORS, element="step", ax=ax, bins=30
        )
        ax.set(title=title, xlabel="reward", ylabel="responses")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(f"Rewards of chosen vs rejected responses ({len(scores)} held-out pairs)")
    return figure


@styled
def margins_figure(scores: pd.DataFrame, metrics: dict[str, Any]) -> Figure:
    figure, ax = _figure()
    margin = scores["chosen_reward"] - scores["rejected_reward"]
    sns.histplot(x=margin, bins=30, color=COLORS["trained"], ax=ax)
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    where = ax.get_xaxis_transform()  # x in data, y in axes fraction
    ax.text(0, 0.96, "  chosen wins →", transform=where, va="top")
    ax.text(0, 0.96, "← rejected wins  ", transform=where, va="top", ha="right")
    ax.set(
        title=f"Margin per pair: {100 * metrics['win_rate']:.1f}% of "
        f"{metrics['pairs']} pairs above 0, mean {metrics['mean_margin']:.3g}",
        xlabel=r"margin  $r_{chosen} - r_{rejected}$",
        ylabel="pairs",
    )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(top=ax.get_ylim()[1] * 1.12)  # room for the labels above the tallest bar
    return figure


def _bucket_bars(
    ax: Any,
    buckets: dict[str, Any],
    labels: dict[str, str],
    title: str,
    order: list[str] | None = None,
) -> None:
    """Three bars per bucket, each labelled with its value (a 0% bar is otherwise invisible)."""
    names = order or bucket_order(buckets)
    x = np.arange(len(names))
    width = 0.27
    trained = np.array([buckets[n]["win_rate"] for n in names])
    low = np.array([buckets[n]["win_rate_ci95"]["low"] for n in names])
    high = np.array([buckets[n]["win_rate_ci95"]["high"] for n in names])
    ax.bar(
        x - width,
        trained,
        width,
        yerr=[trained - low, high - trained],
        capsize=4,
        color=COLORS["trained"],
        label="trained model (95% CI)",
    )
    untrained = np.array([buckets[n]["untrained_win_rate"] for n in names])
    ax.bar(x, untrained, width, color=COLORS["untrained"], label="untrained model")
    longer = np.array([buckets[n]["longer_wins_rate"] for n in names])
    ax.bar(x + width, longer, width, color=COLORS["longer"], label='"longer wins" rule')
    # Above the CI's cap for the model, above the bar for the baselines.
    for offset, values, tops in ((-width, trained, high), (0, untrained, untrained),
                                 (width, longer, longer)):  # fmt: skip
        for xi, value, top in zip(x + offset, values, tops, strict=True):
            ax.text(xi, top + 0.015, f"{100 * value:.0f}%", ha="center", va="bottom", fontsize=9)
    _chance(ax, "random (50%)")
    # A best-of-N set's chance is a random pick among its N completions, drawn over its bars.
    bestofn = [i for i, n in enumerate(names) if "completions_per_prompt" in buckets[n]]
    for i in bestofn:
        ax.hlines(buckets[names[i]]["random_win_rate"], i - 1.5 * width, i + 1.5 * width,
                  color="black", linestyles=":", linewidth=1.5,
                  label="random pick (best-of-N)" if i == bestofn[0] else None)  # fmt: skip
    ax.set_xticks(x, [f"{labels.get(n, n)}\n{_counted(buckets[n])}" for n in names])
    ax.set(title=title, ylim=(0, 1.12), ylabel="win rate")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(axis="x", visible=False)


def _counted(block: dict[str, Any]) -> str:
    if "completions_per_prompt" in block:
        return f"{block['pairs']} prompts, best of {block['completions_per_prompt']:.2g}"
    return f"{block['pairs']} pairs"


@styled
def win_rate_by_length_figure(metrics: dict[str, Any]) -> Figure:
    figure, (by_diff, by_tokens) = _figure(ncols=2, width=12)
    _bucket_bars(by_diff, metrics["by_length_diff"], BUCKET_LABELS, "By length difference")
    tokens = {name: f"{name} tokens" for name in metrics["by_tokens"]}
    _bucket_bars(by_tokens, metrics["by_tokens"], tokens, "By pair length (longer side)")
    by_tokens.set_ylabel("")
    handles, labels = by_diff.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=4, frameon=False)
    figure.suptitle("Win rate where length can and cannot explain it, with baselines")
    return figure


@styled
def calibration_figure(metrics: dict[str, Any]) -> Figure:
    bins = pd.DataFrame.from_dict(metrics["calibration"]["bins"], orient="index")
    bins[["low", "high"]] = [[float(edge) for edge in name.split("-")] for name in bins.index]
    filled = bins[bins["pairs"] > 0]
    figure = Figure(figsize=(SIZE[0], SIZE[1] * 1.3), layout="constrained")
    curve, counts = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    curve.plot([0.5, 1], [0.5, 1], color="black", linestyle="--", linewidth=1, label="calibrated")
    curve.plot(
        filled["predicted"], filled["observed"], marker="o", color=COLORS["trained"],
        label="reward model (one point per bin)",
    )  # fmt: skip
    curve.set(
        title=r"Calibration of $\sigma$(margin): expected calibration error "
        f"{metrics['calibration']['ece']:.3f}",
        ylabel="observed: share of\nthose picks that are right",
        ylim=(-0.02, 1.05),
    )
    curve.yaxis.set_major_formatter(PercentFormatter(1.0))
    curve.legend(loc="lower right")
    counts.bar(
        (bins["low"] + bins["high"]) / 2, bins["pairs"], width=(bins["high"] - bins["low"]) * 0.9,
        color=COLORS["untrained"],
    )  # fmt: skip
    counts.set(
        xlabel=r"predicted: confidence $\sigma(|margin|)$ of the model's pick",
        ylabel="pairs",
        xlim=(0.49, 1.01),
    )
    counts.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    return figure


def evaluation_sets(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The headline split and every extra evaluation set, in the order metrics.json lists them."""
    return {"test": metrics, **(metrics.get("sets") or {})}


@styled
def evaluation_sets_figure(metrics: dict[str, Any]) -> Figure:
    sets = evaluation_sets(metrics)
    figure, ax = _figure(width=max(SIZE[0], 1.6 * len(sets) + 3))
    _bucket_bars(ax, sets, SET_LABELS, "", order=list(sets))
    handles, names = ax.get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=4, frameon=False)
    ax.set_title("Win rate on every evaluation set, against the baselines on the same pairs")
    return figure


def _category_panel(ax: Any, name: str, groups: dict[str, Any]) -> None:
    """Horizontal bars per category: the model with its CI, the untrained model, longer wins."""
    names = sorted(groups)
    y = np.arange(len(names))
    height = 0.27
    trained = np.array([groups[n]["win_rate"] for n in names])
    low = np.array([groups[n]["win_rate_ci95"]["low"] for n in names])
    high = np.array([groups[n]["win_rate_ci95"]["high"] for n in names])
    ax.barh(y - height, trained, height, xerr=[trained - low, high - trained], capsize=3,
            color=COLORS["trained"], label="trained model (95% CI)")  # fmt: skip
    untrained = [groups[n]["untrained_win_rate"] for n in names]
    ax.barh(y, untrained, height, color=COLORS["untrained"], label="untrained model")
    longer = [groups[n]["longer_wins_rate"] for n in names]
    ax.barh(y + height, longer, height, color=COLORS["longer"], label='"longer wins" rule')
    for yi, value, top in zip(y - height, trained, high, strict=True):
        ax.text(top + 0.01, yi, f"{100 * value:.0f}%", va="center", fontsize=8)
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1, label="random (50%)")
    ax.set_yticks(y, [f"{n} ({groups[n]['pairs']})" for n in names], fontsize=9)
    ax.invert_yaxis()  # first category on top, as in the table
    ax.set(title=name, xlim=(0, 1.12), xlabel="win rate")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(axis="y", visible=False)


@styled
def win_rate_by_category_figure(metrics: dict[str, Any]) -> Figure:
    """One panel per evaluation set that has categories (none: a note saying so)."""
    with_categories = {
        name: block["by_category"]
        for name, block in evaluation_sets(metrics).items()
        if block.get("by_category")
    }
    if not with_categories:
        figure, ax = _figure()
        ax.text(0.5, 0.5, "No evaluation set has a category column.", ha="center")
        ax.set_axis_off()
        return figure
    # Two panels a row; a panel's height follows its longest category list.
    ncols = min(len(with_categories), 2)
    nrows = -(-len(with_categories) // ncols)
    longest = max(len(groups) for groups in with_categories.values())
    figure = Figure(figsize=(6.5 * ncols, nrows * (1.2 + 0.3 * longest) + 1), layout="constrained")
    axes = np.atleast_1d(figure.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(with_categories) :]:
        ax.set_axis_off()
    for ax, (name, groups) in zip(axes, with_categories.items(), strict=False):
        _category_panel(ax, SET_LABELS.get(name, name), groups)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=4, frameon=False)
    figure.suptitle("Win rate per category (pairs in parentheses), with baselines")
    return figure


# name -> (function, the inputs it takes, in order)
FIGURES = {
    "loss": (loss_figure, ("curves",)),
    "accuracy": (accuracy_figure, ("curves",)),
    "rewards": (rewards_figure, ("scores",)),
    "margins": (margins_figure, ("scores", "metrics")),
    "win_rate_by_length": (win_rate_by_length_figure, ("metrics",)),
    "calibration": (calibration_figure, ("metrics",)),
    "evaluation_sets": (evaluation_sets_figure, ("metrics",)),
    "win_rate_by_category": (win_rate_by_category_figure, ("metrics",)),
}
