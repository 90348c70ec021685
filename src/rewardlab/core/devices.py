"""What this machine computes fast: one answer for train, bench and the tests.

bf16 pays only where the hardware computes it: a CUDA GPU that supports it, or a CPU with
AVX512-BF16 or AMX. Elsewhere torch emulates it, at about 1 GFLOP/s on a 2-core AVX2 CPU against
40-65 GFLOP/s in fp32, so nothing in rewardlab runs bf16 there unless a user asks for it by name.
"""

from __future__ import annotations

import torch


def native_bf16() -> bool:
    """Whether this machine computes bf16 in hardware, where autocast to it is a speed-up."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    # torch's own CPU probes (private; a torch without them reads as "no").
    probes = [
        getattr(torch.cpu, f"_is_{isa}_supported", None) for isa in ("avx512_bf16", "amx_tile")
    ]
    return any(probe() for probe in probes if probe is not None)


def resolve_precision(requested: str) -> str:
    """``auto`` decided for this machine (bf16 where native, else fp32); the rest as asked."""
    if requested != "auto":
        return requested
    return "bf16" if native_bf16() else "fp32"
