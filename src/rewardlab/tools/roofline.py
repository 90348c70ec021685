"""The roof a model can reach: the best FLOP/s of its own matmul shapes on this CPU.

The square-matmul roof (``throughput.peak_matmul_flops``) is what this CPU does for 2048x2048
matrices; a model's layers are thinner (MiniLM: 384 wide) and multiply fewer rows per call, and
no recipe can beat what its own shapes reach. So for every weight matrix of the model (every
``nn.Linear`` and GPT-2 ``Conv1D``: tokens x hidden by hidden x 3·hidden or hidden for attention,
hidden x intermediate and back for the MLP) this times ``tokens x in @ in x out`` in the recipe's
precision, and for training also the activation gradient, ``tokens x out @ out x in`` (a frozen
base needs no weight gradients: LoRA's are negligible). The roof is the shapes' FLOPs over their
best times, each shape weighted by how often the model has it: one forward (or forward and
backward) of the model's matmuls, at the best speed this CPU showed for each.

Its FLOPs per token are 2 x (sum of in x out over the layers), i.e. 2N with N the weights of
those layers: the model-FLOPs formula's N up to biases and layer norms.
"""

from __future__ import annotations

import time
from collections import Counter

import torch
from transformers.pytorch_utils import Conv1D

Shape = tuple[int, int]  # (in features, out features) of one weight matrix


def matmul_shapes(model: torch.nn.Module) -> Counter[Shape]:
    """Every weight matrix's (in, out), counted; LoRA's and the embeddings' left out.

    LoRA adds rank-r matrices whose FLOPs the 4N formula leaves out too; peft keeps the base
    layer as ``base_layer``, which is counted once like any other layer.
    """
    shapes: Counter[Shape] = Counter()
    for name, module in model.named_modules():
        # LoRA's own matrices, and the frozen copy of a module peft trains (modules_to_save).
        if any(part in ("lora_A", "lora_B", "original_module") for part in name.split(".")):
            continue
        if isinstance(module, Conv1D):  # GPT-2's: weight is (in, out)
            shapes[(module.weight.shape[0], module.weight.shape[1])] += 1
        elif isinstance(module, torch.nn.Linear):  # weight is (out, in)
            shapes[(module.in_features, module.out_features)] += 1
    return shapes


def flops_per_token(shapes: Counter[Shape], backward: bool) -> int:
    """Model FLOPs of one token through these matmuls: 2·in·out each, twice with backward."""
    forward = 2 * sum(k * n * count for (k, n), count in shapes.items())
    return 2 * forward if backward else forward


def _best_seconds(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
    a @ b  # warm-up: packing buffers, the thread pool
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return best


def shape_roof(
    shapes: Counter[Shape], tokens: int, dtype: torch.dtype, backward: bool, repeats: int = 5
) -> float:
    """FLOP/s of the model's own matmuls with ``tokens`` rows, in ``dtype``, at their best."""
    flops = seconds = 0.0
    for (k, n), count in shapes.items():
        weight = torch.randn(k, n, dtype=dtype)
        products = [(torch.randn(tokens, k, dtype=dtype), weight)]
        if backward:  # the activation gradient: (tokens x out) @ (out x in)
            products.append((torch.randn(tokens, n, dtype=dtype), weight.t().contiguous()))
        for a, b in products:
            flops += count * 2 * tokens * k * n
            seconds += count * _best_seconds(a, b, repeats)
    return flops / seconds
