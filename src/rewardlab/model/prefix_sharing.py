"""Prefix-shared pairs for decoder reward models: one sequence per pair instead of two.

TRL's ``RewardTrainer`` runs the prompt twice per pair, once before each answer. A decoder
(GPT-2, Llama, Qwen) reads causally, so the hidden states of the tokens both sides share are the
same in both runs: here they are computed once. A pair becomes one row -- the shared prefix, the
rest of the chosen side, the rest of the rejected side -- under a 4D attention mask in which the
rejected tokens see the prefix and themselves (causally) but not the chosen tokens, with position
ids that continue from the prefix's end on both sides. Each reward is the score head at its
side's last token, picked as ``*ForSequenceClassification`` picks it (the rightmost token that
is not the pad token), so the rewards are those of the two-sequence path.

The shared prefix is the longest common prefix of the two sides' ids: at least the prompt (for
decoder bases featurize tokenizes prompt and answer apart, ``data.tokenizing``), more where the
answers start alike. Encoders (BERT, MiniLM) attend both ways, so every token sees the answer and
nothing can be shared: ``train.prefix_sharing`` is off for them.

The mask is a tensor the model's own attention takes as it is (transformers returns a 4D mask
unchanged): boolean for SDPA, on CPU and CUDA alike, additive float for eager attention. A batch
is rows of one pair each, or of several with ``train.packing`` (``model/packing.py``, which
builds the tensors and the mask for both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from transformers import PretrainedConfig
from transformers.data.data_collator import DataCollatorMixin
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

from rewardlab.core.errors import UserError
from rewardlab.model import packing
from rewardlab.model.packing import CHOSEN, PREFIX, REJECTED

# ``auto`` trains a batch as two sequences per pair when sharing would save less than this share
# of the (padded) tokens: a short prompt before long answers gains less than the mask costs.
AUTO_MIN_SAVING = 0.05
ATTENTION = ("sdpa", "eager")  # implementations that read a 4D mask tensor as given
SHARED_KEYS = packing.BATCH_KEYS


def decoder_only(config: PretrainedConfig) -> bool:
    """Whether a base reads causally: a causal LM that is not also a masked LM (BERT is both)."""
    model_type = config.model_type
    return (
        not getattr(config, "is_encoder_decoder", False)
        and model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )


def resolve(setting: str, config: PretrainedConfig) -> bool:
    """``train.prefix_sharing`` for this base: ``auto`` is on for decoder-only bases that use
    an attention implementation taking a 4D mask; ``on`` where that cannot work is an error."""
    if setting == "off":
        return False
    attention = getattr(config, "_attn_implementation", None) or "eager"
    if not decoder_only(config):
        if setting == "on":
            raise UserError(
                f"train.prefix_sharing = 'on' needs a decoder-only base; {config.model_type!r} "
                "is an encoder (every token attends to the answer, so no prefix can be shared). "
                "Set train.prefix_sharing: auto or off."
            )
        return False
    if attention not in ATTENTION:
        if setting == "on":
            raise UserError(
                f"train.prefix_sharing = 'on' needs attention that takes a 4D mask "
                f"({' or '.join(ATTENTION)}); this model uses {attention!r}. "
                "Set train.prefix_sharing: auto or off."
            )
        return False
    return True


def last_token(ids: Sequence[int], pad_token_id: int) -> int:
    """Where ``*ForSequenceClassification`` reads a sequence's reward: its rightmost token that
    is not the pad token (GPT-2's pad is its eos), position 0 when every token is a pad."""
    return next((i for i in range(len(ids) - 1, -1, -1) if ids[i] != pad_token_id), 0)


def common_prefix(chosen: Sequence[int], rejected: Sequence[int]) -> int:
    shared = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        shared += 1
    return shared


@dataclass(frozen=True)
class SharedPair:
    """One pair as one row: ids, segments, positions, and where each reward is read."""

    ids: list[int]
    segments: list[int]
    positions: list[int]
    chosen_index: int
    rejected_index: int


def layout(chosen: Sequence[int], rejected: Sequence[int], pad_token_id: int) -> SharedPair:
    """Lay a pair out as prefix + chosen rest + rejected rest."""
    shared = common_prefix(chosen, rejected)
    chosen_rest, rejected_rest = list(chosen[shared:]), list(rejected[shared:])
    ids = [*chosen[:shared], *chosen_rest, *rejected_rest]
    segments = [PREFIX] * shared + [CHOSEN] * len(chosen_rest) + [REJECTED] * len(rejected_rest)
    positions = [
        *range(len(chosen)),
        *range(shared, shared + len(rejected_rest)),
    ]
    rejected_last = last_token(rejected, pad_token_id)
    if rejected_last >= shared:  # past the prefix: in the rejected segment, after the chosen one
        rejected_last += len(chosen_rest)
    return SharedPair(ids, segments, positions, last_token(chosen, pad_token_id), rejected_last)


def with_shared_lengths(dataset: Dataset) -> Dataset:
    """The dataset with ``length`` (what the length-grouped sampler sorts by) set to the width of
    each pair's shared row instead of its longer side, so a batch groups rows that pad alike.

    On the default builtin pairs (MiniLM ids, batches of 16 from transformers' sampler) this
    pads shared batches to 411k tokens against 470k when grouped by the longer side, and 555k
    for two sequences per pair. In memory: the features on disk stay as featurize wrote them.
    """
    widths = [
        len(c) + len(r) - common_prefix(c, r)
        for c, r in zip(dataset["chosen_ids"], dataset["rejected_ids"], strict=True)
    ]
    return dataset.remove_columns("length").add_column("length", widths)


def saving(
    chosen: Sequence[Sequence[int]], rejected: Sequence[Sequence[int]], packed: bool = False
) -> float:
    """Share of the padded tokens a shared batch (``packed``: a packed one) saves against two
    sequences per pair."""
    two = 2 * len(chosen) * max(len(ids) for side in (chosen, rejected) for ids in side)
    widths = [len(c) + len(r) - common_prefix(c, r) for c, r in zip(chosen, rejected, strict=True)]
    rows = len(packing.first_fit(widths)) if packed else len(widths)
    return 1.0 - rows * max(widths) / two if two else 0.0


def shared_batch(
    chosen: Sequence[Sequence[int]],
    rejected: Sequence[Sequence[int]],
    pad_token_id: int,
    packed: bool = False,
) -> dict[str, torch.Tensor]:
    """Tensors of a batch of pairs, one row each or (``packed``) several to a row."""
    pairs = [layout(c, r, pad_token_id) for c, r in zip(chosen, rejected, strict=True)]
    rows = (
        packing.first_fit([len(p.ids) for p in pairs])
        if packed
        else [[i] for i in range(len(pairs))]
    )
    return packing.rows_batch(pairs, rows, pad_token_id)


@dataclass
class PrefixSharingCollator(DataCollatorMixin):
    """Collate pairs as shared rows (``pack``: several pairs to a row); with ``auto``, a batch
    that would save less than ``AUTO_MIN_SAVING`` of its tokens falls back to TRL's two
    sequences per pair."""

    pad_token_id: int
    auto: bool = True
    pack: bool = False
    return_tensors: str = "pt"

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        chosen = [e["chosen_ids"] for e in examples]
        rejected = [e["rejected_ids"] for e in examples]
        if self.auto and saving(chosen, rejected, self.pack) < AUTO_MIN_SAVING:
            from trl.trainer.reward_trainer import DataCollatorForPreference

            return DataCollatorForPreference(pad_token_id=self.pad_token_id)(examples)
        batch = shared_batch(chosen, rejected, self.pad_token_id, self.pack)
        if "margin" in examples[0]:
            batch["margin"] = torch.tensor([e["margin"] for e in examples], dtype=torch.float)
        return batch


def is_shared(batch: dict[str, Any]) -> bool:
    return "segment_ids" in batch


def score_head(model: torch.nn.Module) -> torch.nn.Module:
    """The classifier's ``score`` layer, through DDP (``module``) and peft wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    head = getattr(model, "score", None)
    if not isinstance(head, torch.nn.Module):
        raise UserError(
            f"prefix sharing reads the reward from a `score` head, which "
            f"{type(model).__name__} lacks; set train.prefix_sharing: off."
        )
    return head


def model_config(model: torch.nn.Module) -> PretrainedConfig:
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model.config


def shared_rewards(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Rewards of a shared batch, shaped as a two-sequence batch's logits: (2 x pairs, 1), the
    chosen sides first, then the rejected ones (what TRL's loss splits in two).

    The model runs its own forward (DDP, peft, autocast and checkpointing all apply); a hook on
    its score head keeps the per-token scores, from which each side's token is taken.
    """
    config = model_config(model)
    attention = getattr(config, "_attn_implementation", None) or "eager"
    mask = packing.attention_mask(batch["segment_ids"], attention, next(model.parameters()).dtype)
    scores = head_outputs(model, batch["input_ids"], mask, batch["position_ids"])
    return packing.read_rewards(scores, batch)


def head_outputs(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    position_ids: torch.Tensor,
) -> torch.Tensor:
    """The score head's output at every position, ``(rows, width, 1)``: the model's own forward
    (peft, DDP, autocast and checkpointing all apply), read by a hook on its head, because the
    classifier itself would pool one position per row and a shared row has two rewards."""
    captured: list[torch.Tensor] = []
    handle = score_head(model).register_forward_hook(lambda m, i, out: captured.append(out))
    try:
        model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids, use_cache=False)
    finally:
        handle.remove()
    return captured[-1]
