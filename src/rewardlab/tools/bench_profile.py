"""``rewardlab bench --profile``: where one training step's time goes, by kind of work.

One optimizer step of this repo's recipe (after a warm-up step) runs under ``torch.profiler``.
Every aten op's self time is filed under the innermost labelled module it ran in, forward or
backward: ``matmul`` (the base's Linear/Conv1D layers and the score head), ``lora`` (peft's
``lora_A``/``lora_B``/``lora_dropout``), ``attention`` (what an attention module does besides its
projections: SDPA, masks, head reshapes), ``optimizer`` (``Optimizer.step``/``zero_grad`` and
gradient clipping), and ``elementwise`` (every other op: layer norms, activations, residual adds,
embeddings, the loss). A backward op is matched to the forward op that recorded it by autograd's
sequence number, so the LoRA matmuls' gradients count as LoRA, not as matmuls. ``framework``
is the step's wall time that no aten op accounts for: Python, the Trainer, peft and accelerate's
wrappers, collation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile
from transformers import TrainerCallback
from transformers.pytorch_utils import Conv1D

CATEGORIES = ("matmul", "attention", "lora", "elementwise", "optimizer", "framework")
PREFIX = "rewardlab:"  # our record_function labels, told apart from torch's own
OPTIMIZER_SCOPES = ("Optimizer.step", "Optimizer.zero_grad", f"{PREFIX}optimizer")


def _is_attention(module: torch.nn.Module) -> bool:
    return type(module).__name__.endswith("Attention")


def module_label(name: str, module: torch.nn.Module) -> str | None:
    """The category a module's own ops belong to (None: it takes its parent's)."""
    parts = name.split(".")
    if any(p in ("lora_A", "lora_B", "lora_dropout") for p in parts):
        return "lora"
    if isinstance(module, torch.nn.Linear | Conv1D):
        return "matmul"
    # The innermost attention module (BERT's SelfAttention, not the Attention around it, whose
    # output block holds a layer norm and a residual add).
    if _is_attention(module) and not any(_is_attention(c) for c in module.children()):
        return "attention"
    return None


@contextlib.contextmanager
def labelled_modules(model: torch.nn.Module) -> Iterator[None]:
    """Wrap each labelled module's forward in a ``record_function`` named after its category."""
    handles, open_scopes = [], []

    def enter(label: str) -> Callable:
        def hook(module, args):
            scope = record_function(PREFIX + label)
            scope.__enter__()
            open_scopes.append(scope)

        return hook

    def leave(module, args, output):
        open_scopes.pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        if label := module_label(name, module):
            handles.append(module.register_forward_pre_hook(enter(label)))
            handles.append(module.register_forward_hook(leave))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _scope_label(event: Any) -> str | None:
    """The innermost category label among the event's ancestors (itself included)."""
    while event is not None:
        label = event.name[len(PREFIX) :] if event.name.startswith(PREFIX) else None
        if label in CATEGORIES:
            return label
        if event.name.startswith(OPTIMIZER_SCOPES):
            return "optimizer"
        event = event.cpu_parent
    return None


def _backward_node(event: Any) -> Any:
    while event is not None:
        if event.name.startswith("autograd::engine::evaluate_function"):
            return event
        event = event.cpu_parent
    return None


def label_ops(events: list[Any]) -> list[tuple[Any, str]]:
    """Every aten op with its category; a backward op takes its forward op's, matched by
    autograd's sequence number (gradient clipping, under a label of its own, keeps that)."""
    ops = [e for e in events if e.name.startswith("aten::")]
    forward_label = {}  # (thread, sequence_nr) of a forward op -> its category
    for e in ops:
        if e.sequence_nr >= 0 and _backward_node(e) is None:
            forward_label.setdefault((e.thread, e.sequence_nr), _scope_label(e))
    labelled = []
    for e in ops:
        label = _scope_label(e)
        node = _backward_node(e)
        if label is None and node is not None:
            label = forward_label.get((node.fwd_thread, node.sequence_nr))
        labelled.append((e, label or "elementwise"))
    return labelled


def breakdown(
    events: list[Any], wall_us: float, top: dict[str, dict[str, float]] | None = None
) -> dict[str, float]:
    """Seconds per category from profiler events of one step lasting ``wall_us``; ``top``, if
    given, collects each category's seconds per op name (what to look at first)."""
    seconds = dict.fromkeys(CATEGORIES, 0.0)
    for e, label in label_ops(events):
        seconds[label] += e.self_cpu_time_total / 1e6
        if top is not None:
            ops_of = top.setdefault(label, {})
            ops_of[e.name] = ops_of.get(e.name, 0.0) + e.self_cpu_time_total / 1e6
    seconds["framework"] = max(0.0, wall_us / 1e6 - sum(seconds.values()))
    return seconds


class StepProfiler(TrainerCallback):
    """Profile the optimizer step after ``warmup`` steps, then stop training."""

    def __init__(self, warmup: int = 1) -> None:
        self.warmup = warmup
        self.prof: profile | None = None
        self.result: dict[str, float] | None = None
        self.top: dict[str, dict[str, float]] = {}
        self._labels: contextlib.ExitStack | None = None

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.warmup and self.prof is None:
            self._labels = contextlib.ExitStack()
            self._labels.enter_context(labelled_modules(model))
            self.prof = profile(activities=[ProfilerActivity.CPU])
            self.prof.__enter__()
            self._labels.enter_context(record_function(PREFIX + "step"))

    def on_step_end(self, args, state, control, **kwargs):
        if self.prof is None or self.result is not None:
            return
        assert self._labels is not None
        self._labels.close()
        self.prof.__exit__(None, None, None)
        events = list(self.prof.events())
        step = next(e for e in events if e.name == PREFIX + "step")
        self.result = breakdown(events, step.time_range.elapsed_us(), self.top)
        control.should_training_stop = True


def clip_labelled(accelerator: Any) -> None:
    """Label the trainer's gradient clipping as optimizer work (it runs between backward and
    ``Optimizer.step``, under no scope of its own)."""
    clip = accelerator.clip_grad_norm_

    def labelled(*args, **kwargs):
        with record_function(PREFIX + "optimizer"):
            return clip(*args, **kwargs)

    accelerator.clip_grad_norm_ = labelled


def format_breakdown(
    name: str, seconds: dict[str, float], top: dict[str, dict[str, float]] | None = None
) -> str:
    """One markdown row per category with its share of the step and its costliest ops."""
    total = sum(seconds.values())
    lines = [
        f"One training step of {name} ({total * 1e3:,.0f} ms), by kind of work:",
        "",
        "| work | ms | share | costliest ops (ms) |",
        "|---|--:|--:|---|",
    ]
    for category in CATEGORIES:
        ops = sorted((top or {}).get(category, {}).items(), key=lambda kv: -kv[1])[:4]
        named = ", ".join(f"{op.removeprefix('aten::')} {s * 1e3:,.0f}" for op, s in ops)
        share = seconds[category] / total
        lines.append(f"| {category} | {seconds[category] * 1e3:,.0f} | {share:.0%} | {named} |")
    return "\n".join(lines)
