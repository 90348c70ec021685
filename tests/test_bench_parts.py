"""The bench's parts, worked by hand: the multi-turn workload's shape, the roof's matmul shapes and
FLOP counts, and the profile's filing of ops (a backward op under its forward op's category)."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch.profiler import ProfilerActivity, profile
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
)

from rewardlab.core.params import FeaturizeParams, ModelParams
from rewardlab.data.sources.generator import generate_pairs
from rewardlab.data.tokenizing import format_pair
from rewardlab.model import scoring
from rewardlab.model.loading import load_tokenizer
from rewardlab.tools import bench_profile, roofline
from rewardlab.tools.bench_workloads import multi_turn_pairs, prompt_share
from rewardlab.tools.throughput import non_embedding_params

TEMPLATE = FeaturizeParams().template


def tiny_gpt2() -> GPT2ForSequenceClassification:
    config = GPT2Config(
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        vocab_size=100,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        num_labels=1,
    )
    return GPT2ForSequenceClassification(config)


def test_multi_turn_transcripts_hold_one_to_four_earlier_turns_before_the_pairs_own():
    builtin, rows = generate_pairs(60), multi_turn_pairs(60, TEMPLATE)
    assert [r["chosen"] for r in rows] == [r["chosen"] for r in builtin]
    assert [r["rejected"] for r in rows] == [r["rejected"] for r in builtin]
    counts = set()
    for row, own in zip(rows, builtin, strict=True):
        text = format_pair(row, TEMPLATE)["chosen_text"]
        # Each earlier turn adds one Human and one Assistant turn to the pair's own.
        assert (
            text.count("\n\nHuman: ") == text.count("\n\nAssistant: ") == row["earlier_turns"] + 1
        )
        assert text.startswith("\n\nHuman: ") and text.endswith(
            f"\n\nHuman: {own['prompt']}\n\nAssistant: {own['chosen']}"
        )
        counts.add(row["earlier_turns"])
    assert counts == {1, 2, 3, 4}
    assert multi_turn_pairs(60, TEMPLATE) == rows  # seeded: every recipe sees the same


def test_the_multi_turn_prompt_is_about_three_quarters_of_each_sequence():
    tokenizer = load_tokenizer(ModelParams())
    rows = [format_pair(r, TEMPLATE) for r in multi_turn_pairs(200, TEMPLATE)]
    builtin = [format_pair(r, TEMPLATE) for r in generate_pairs(200)]
    assert 0.7 < prompt_share(tokenizer, rows, TEMPLATE) < 0.85
    assert 0.2 < prompt_share(tokenizer, builtin, TEMPLATE) < 0.45


def test_prompt_share_counts_prompt_tokens_over_sequence_tokens():
    class Words:  # one token a word, plus [CLS]/[SEP]
        def __call__(self, text):
            return {"input_ids": [0, *text.split(), 1]}

    row = format_pair(
        {"prompt": "a b", "chosen": "c", "rejected": "d e f"}, "Q {prompt} A {response}"
    )
    # prompt "[CLS] Q a b A [SEP]": 6 of "[CLS] Q a b A c [SEP]" (7) and of 9 for the rejected.
    assert prompt_share(Words(), [row], "Q {prompt} A {response}") == 12 / 16


def test_the_gpt2_roof_multiplies_the_models_own_matrices():
    model = tiny_gpt2()
    # c_attn 32x96, attn c_proj 32x32, mlp c_fc 32x128 and c_proj 128x32 in each of 2 layers,
    # and the 32x1 score head.
    expected = {(32, 96): 2, (32, 32): 2, (32, 128): 2, (128, 32): 2, (32, 1): 1}
    assert roofline.matmul_shapes(model) == expected
    weights = 2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 32
    assert roofline.flops_per_token(expected, backward=False) == 2 * weights
    assert roofline.flops_per_token(expected, backward=True) == 4 * weights
    # The 2N / 4N of the model-FLOPs formula, up to biases and layer norms.
    assert 0.9 < weights / non_embedding_params(model) < 1
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["c_attn"], task_type="SEQ_CLS"))
    assert roofline.matmul_shapes(lora) == expected  # LoRA's rank-4 matrices are not counted


def test_the_bert_roof_has_four_attention_projections_and_the_mlp():
    config = BertConfig(
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=40,
        vocab_size=50,
        num_labels=1,
    )
    shapes = roofline.matmul_shapes(BertForSequenceClassification(config))
    # query, key, value, output and the pooler: 16x16; the MLP 16x40 and back; the classifier.
    assert shapes == {(16, 16): 4 * 3 + 1, (16, 40): 3, (40, 16): 3, (16, 1): 1}


def test_the_shape_roof_is_a_rate_in_every_measured_precision():
    shapes = roofline.matmul_shapes(tiny_gpt2())
    for backward in (False, True):
        assert roofline.shape_roof(shapes, 16, torch.float32, backward, repeats=1) > 0


def test_the_profile_files_lora_gradients_under_lora_and_the_optimizer_under_optimizer():
    torch.manual_seed(0)
    model = tiny_gpt2()
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["c_attn"], task_type="SEQ_CLS"))
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad])
    ids = torch.randint(0, 100, (2, 8))
    with bench_profile.labelled_modules(lora), profile(activities=[ProfilerActivity.CPU]) as prof:
        lora(input_ids=ids).logits.sum().backward()
        optimizer.step()
    labelled = bench_profile.label_ops(list(prof.events()))
    backward = {
        label
        for event, label in labelled
        if bench_profile._backward_node(event) is not None and event.name == "aten::mm"
    }
    # The LoRA matmuls' gradients (and the base's activation gradients) found their category.
    assert {"lora", "matmul"} <= backward
    categories = {label for _, label in labelled}
    assert {"matmul", "attention", "lora", "elementwise", "optimizer"} <= categories
    seconds = bench_profile.breakdown(list(prof.events()), wall_us=10**9)
    assert set(seconds) == set(bench_profile.CATEGORIES) and seconds["framework"] > 0


def test_scoring_batches_keep_to_the_token_budget(monkeypatch):
    monkeypatch.setattr(scoring, "TOKEN_BUDGET", 512)
    # 51 sequences of 10 tokens fill 510 of 512; a 600-token one goes alone, over budget.
    assert scoring._token_budget_batches([10] * 100, 128) == [(0, 51), (51, 100)]
    assert scoring._token_budget_batches([10] * 100, 40) == [(0, 40), (40, 80), (80, 100)]
    # 100 and 200 pad to 400; a 300 would make it 900.
    lengths = [100, 200, 300, 600, 700]
    assert scoring._token_budget_batches(lengths, 128) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert scoring._token_budget_batches([], 128) == []
    # On a GPU only batch_size bounds a batch: it wants the largest batch that fits.
    assert scoring._token_budget_batches([10] * 100, 40, on_cpu=False) == [
        (0, 40),
        (40, 80),
        (80, 100),
    ]


def tiny_bert() -> BertForSequenceClassification:
    config = BertConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=40,
        vocab_size=100,
        num_labels=1,
        pad_token_id=0,
    )
    return BertForSequenceClassification(config)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_bert])
def test_batched_scoring_gives_the_one_text_loops_rewards(monkeypatch, make):
    # Several batches under a small budget: some padded (with a mask), some of equal lengths
    # (no padding: no mask), one sequence alone over the budget.
    monkeypatch.setattr(scoring, "TOKEN_BUDGET", 24)
    torch.manual_seed(0)
    model = make().eval()
    lengths = [3, 7, 7, 7, 5, 12, 12, 2, 30, 9, 4, 4]
    sequences = [torch.randint(1, 100, (n,)).tolist() for n in lengths]
    seen = []
    forward = model.forward
    monkeypatch.setattr(
        model, "forward", lambda **kw: seen.append("attention_mask" in kw) or forward(**kw)
    )
    rewards = scoring.score_token_ids(model, sequences, pad_token_id=0, batch_size=4)
    assert True in seen and False in seen and len(seen) > 3
    with torch.no_grad():
        loop = [forward(input_ids=torch.tensor([ids])).logits.item() for ids in sequences]
    torch.testing.assert_close(rewards, loop, rtol=0, atol=1e-5)
