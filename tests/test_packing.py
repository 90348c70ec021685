"""Packing several prefix-shared pairs into a row gives the two-sequence path's rewards, loss and
gradients, and trains as it does.

The tiny random GPT-2 and Llama classifiers with LoRA of ``test_prefix_sharing``, fp32, over its
mixed-length pairs (a side ending in the pad token, equal sides, a side that is a prefix of the
other), packed so that several pairs share a row.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from transformers import BertConfig, BertForSequenceClassification

from rewardlab.core.errors import UserError
from rewardlab.core.params import TrainParams
from rewardlab.model import packing, prefix_sharing
from rewardlab.model.prefix_sharing import PrefixSharingCollator, shared_batch, shared_rewards
from rewardlab.model.training import PrefixSharingRewardTrainer, sharing_summary, trainer_kind
from test_prefix_sharing import (
    PAD,
    assert_same_as_two_sequences,
    lora_grads,
    loss_of,
    pad_tokenizer,  # noqa: F401 -- a fixture, used by name
    pairs,
    tiny_model,
    train_tiny,
    two_sequence_rewards,
)


def test_first_fit_deals_pairs_longest_first_into_rows_as_wide_as_the_widest():
    assert packing.first_fit([5, 2, 3, 4, 1]) == [[0], [3, 4], [2, 1]]
    assert packing.first_fit([3, 3, 3]) == [[0], [1], [2]]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_packed_rewards_loss_and_lora_gradients_equal_the_two_sequence_path(kind, attention):
    model = tiny_model(kind, attention)
    chosen, rejected = pairs(n=10)
    prompt = list(range(1, 30))  # a long pair: its width is the rows' width, the rest fill rows
    chosen.append([*prompt, 30, 31, 32])
    rejected.append([*prompt, 40, 41])
    two = two_sequence_rewards(model, chosen, rejected)
    loss_of(two).backward()
    expected = lora_grads(model)
    model.zero_grad()
    batch = shared_batch(chosen, rejected, PAD, packed=True)
    one = shared_rewards(model, batch)
    loss_of(one).backward()
    rows = batch["segment_ids"].shape[0]
    assert rows <= len(chosen) - 5 and int(batch["segment_ids"].max()) >= 2 * packing.SIDES
    assert_same_as_two_sequences(one, two, lora_grads(model), expected)


def test_the_packed_row_and_mask_by_hand():
    """Pairs laid out 5, 3, 8 and 1 wide: rows of 8 hold the 8, the 5 with the 3, and the 1."""
    chosen = [[5, 6, 7, 8], [1, 2], [10, 11, 12, 13, 14, 15], [20]]
    rejected = [[5, 6, 9], [1, 3], [10, 11, 16, 17], [20]]
    batch = shared_batch(chosen, rejected, PAD, packed=True)
    assert batch["segment_ids"].tolist() == [
        [0, 0, 1, 1, 1, 1, 2, 2],
        [0, 0, 1, 1, 2, 3, 4, 5],  # pair 0 (segments 0-2), then pair 1 (3-5)
        [0, -1, -1, -1, -1, -1, -1, -1],
    ]
    assert batch["input_ids"][1].tolist() == [5, 6, 7, 8, 9, 1, 2, 3]
    assert batch["position_ids"][1].tolist() == [0, 1, 2, 3, 2, 0, 1, 1]  # restarting per pair
    # Each reward at its (row, column), in input order, whatever row the pair landed in.
    assert batch["chosen_at"].tolist() == [[1, 3], [1, 6], [0, 5], [2, 0]]
    assert batch["rejected_at"].tolist() == [[1, 4], [1, 7], [0, 7], [2, 0]]
    mask = packing.attention_mask(batch["segment_ids"], "sdpa", torch.float32)
    assert mask[1, 0].int().tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0, 0],
        [1, 1, 0, 0, 1, 0, 0, 0],  # pair 0's rejected token: its prompt and itself
        [0, 0, 0, 0, 0, 1, 0, 0],  # pair 1 sees nothing of pair 0
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 0, 1],
    ]
    assert mask[2, 0, 3].int().tolist() == [0, 1, 1, 1, 0, 0, 0, 0]  # padding: pads before, itself
    eager = packing.attention_mask(batch["segment_ids"], "eager", torch.float32)
    assert eager.dtype == torch.float32 and torch.equal(eager == 0, mask)
    # Two sequences per pair pad all 8 sides to the longest, 6: 48 tokens against 3 rows of 8.
    assert packing.token_counts(batch) == (24, 48)


def test_one_pair_a_row_is_the_single_pair_layout():
    chosen, rejected = pairs()
    batch = shared_batch(chosen, rejected, PAD)
    assert batch["segment_ids"].shape[0] == len(chosen) and int(batch["segment_ids"].max()) == 2
    assert batch["chosen_at"][:, 0].tolist() == list(range(len(chosen)))


def test_auto_falls_back_on_the_packed_layout():
    """One long pair (short prompt, long answers) and two short ones: a row a pair saves under
    5% against two sequences; the short two packed into one row, a third, so a packing run
    shares the batch."""
    short = {"chosen_ids": [1, 2], "rejected_ids": [1, 3]}
    examples = [{"chosen_ids": [1] + [2] * 30, "rejected_ids": [1] + [3] * 30}, short, short]
    assert not prefix_sharing.is_shared(PrefixSharingCollator(PAD)(examples))
    packed = PrefixSharingCollator(PAD, pack=True)(examples)
    assert prefix_sharing.is_shared(packed) and packed["input_ids"].shape == (2, 61)


def test_packing_resolves_only_where_prefix_sharing_is_on():
    assert packing.resolve("auto", True) and packing.resolve("on", True)
    assert not packing.resolve("auto", False) and not packing.resolve("off", True)
    with pytest.raises(UserError, match=r"train\.packing.*train\.prefix_sharing"):
        packing.resolve("on", False)
    gpt2 = tiny_model("gpt2")
    assert trainer_kind("auto", gpt2, PAD, "auto")[1].pack
    assert not trainer_kind("auto", gpt2, PAD, "off")[1].pack
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=1,
        )
    )
    assert trainer_kind("auto", bert, PAD, "auto")[1] is None  # an encoder: neither
    with pytest.raises(UserError, match=r"train\.packing = 'on'"):
        trainer_kind("auto", bert, PAD, "on")
    # YAML 1.1's on/off, and on against prefix sharing off, caught when params load.
    assert TrainParams(packing=True).packing == "on" and TrainParams(packing=False).packing == "off"
    with pytest.raises(ValidationError, match=r"set train\.packing: auto or off"):
        TrainParams(prefix_sharing="off", packing="on")
    assert TrainParams(prefix_sharing="off").packing == "auto"  # auto: then off


def test_the_summary_says_how_many_pairs_were_packed_into_how_many_rows():
    counts = {"batches": 6, "shared": 6, "tokens": 48, "two_sequence_tokens": 100}
    counts |= {"pairs": 96, "rows": 41}
    assert sharing_summary(counts, packed=True) == (
        "prefix sharing: 6/6 batches shared, packed 96 pairs into 41 rows, 52% fewer tokens"
    )


def test_reward_trainer_with_packing_matches_the_two_sequence_run(tmp_path, pad_tokenizer):  # noqa: F811
    """The same batches (the same sampler, seed and data), packed or as two sequences."""
    packed, packed_losses, packed_weights = train_tiny(tmp_path, "on", pad_tokenizer, "p", "on")
    _, plain_losses, plain_weights = train_tiny(tmp_path, "off", pad_tokenizer, "off")
    assert isinstance(packed, PrefixSharingRewardTrainer) and packed.packing
    assert len(packed_losses) == len(plain_losses) == 4
    assert np.allclose(packed_losses, plain_losses, atol=1e-5, rtol=0)
    for name, weight in plain_weights.items():
        assert torch.allclose(packed_weights[name], weight, atol=1e-5), name
    counts = packed.sharing
    assert counts["batches"] == counts["shared"] == 4 and counts["pairs"] == 24
    assert counts["rows"] < counts["pairs"]
    # A second run is bit-identical on CPU.
    _, again_losses, again_weights = train_tiny(tmp_path, "on", pad_tokenizer, "again", "on")
    assert again_losses == packed_losses
    assert all(torch.equal(again_weights[n], w) for n, w in packed_weights.items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_packed_mask_is_a_real_mask_for_sdpa_on_cuda():
    model = tiny_model("gpt2").cuda()
    chosen, rejected = pairs(n=10)
    two = two_sequence_rewards(model, chosen, rejected)
    batch = shared_batch(chosen, rejected, PAD, packed=True)
    batch = {key: value.cuda() for key, value in batch.items()}
    assert torch.allclose(shared_rewards(model, batch).cpu(), two.cpu(), atol=1e-4, rtol=0)
