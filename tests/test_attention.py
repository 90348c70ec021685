"""``train.attention``: which kernel training runs, that switching it keeps the math, and that
the trained model records it while scoring keeps the model's default."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from pydantic import ValidationError
from transformers import AutoModelForSequenceClassification, BertConfig, GPT2Config, set_seed

from rewardlab.core.errors import UserError
from rewardlab.core.params import Params
from rewardlab.model import training
from rewardlab.model.loading import load_reward_model


def tiny(kind: str) -> torch.nn.Module:
    set_seed(0)
    if kind == "gpt2":
        config = GPT2Config(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    else:
        config = BertConfig(
            vocab_size=64,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
    config.num_labels, config.pad_token_id = 1, 0
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")


def test_auto_is_eager_for_short_bf16_sequences_on_a_cpu_and_the_default_elsewhere(
    monkeypatch,
):
    model = tiny("gpt2")
    short, long = training.EAGER_MAX_LENGTH, training.EAGER_MAX_LENGTH + 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training.attention("auto", "bf16", model, short) == "eager"
    assert training.attention("auto", "bf16", model, long) == "sdpa"  # multi-turn lengths
    assert training.attention("auto", "fp32", model, short) == "sdpa"
    assert training.attention("sdpa", "bf16", model, short) == "sdpa"
    assert training.attention("eager", "fp32", model, long) == "eager"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training.attention("auto", "bf16", model, short) == "sdpa"  # a GPU keeps SDPA


@pytest.mark.parametrize("kind", ["gpt2", "bert"])
def test_eager_and_sdpa_give_the_same_rewards_and_lora_gradients(kind):
    """Switched before LoRA, as train does: the same forward and backward, kernel aside."""
    ids = torch.randint(1, 64, (3, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 7:], mask[2, 4:] = 0, 0  # padded rows: the mask path of both kernels
    results = []
    for implementation in ("sdpa", "eager"):
        model = tiny(kind)
        assert training.use_attention(implementation, "fp32", model, 12) == implementation
        assert model.config._attn_implementation == implementation
        targets = ["c_attn"] if kind == "gpt2" else ["query", "value"]
        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=4,
            target_modules=targets,
            fan_in_fan_out=kind == "gpt2",
            init_lora_weights=False,
        )
        peft_model = get_peft_model(model, lora).eval()
        rewards = peft_model(input_ids=ids, attention_mask=mask).logits
        rewards.sum().backward()
        grads = {n: p.grad for n, p in peft_model.named_parameters() if p.requires_grad}
        results.append((rewards.detach(), grads))
    (sdpa, sdpa_grads), (eager, eager_grads) = results
    assert torch.allclose(sdpa, eager, atol=1e-5, rtol=0)
    assert sdpa_grads.keys() == eager_grads.keys() and sdpa_grads
    for name, grad in sdpa_grads.items():
        assert torch.linalg.norm(eager_grads[name] - grad) <= 1e-4 * torch.linalg.norm(grad), name


def test_a_kernel_the_model_cannot_run_is_one_clear_error(monkeypatch):
    model = tiny("gpt2")

    def refuse(implementation):
        raise ValueError(f"{implementation} is not supported")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    with pytest.raises(UserError, match=r"train.attention = 'eager'.*Set train.attention: auto"):
        training.use_attention("eager", "fp32", model, 12)


def test_only_the_known_kernels_are_accepted():
    with pytest.raises(ValidationError, match="attention"):
        Params.model_validate({"train": {"attention": "flash"}})


def test_the_trained_model_records_its_kernel_and_scores_with_the_default(tiny_run):
    folder = tiny_run / "models/reward_model"
    metadata = json.loads((folder / "rewardlab.json").read_text())
    cpu_bf16 = metadata["precision"] == "bf16" and not torch.cuda.is_available()
    assert metadata["max_length"] <= training.EAGER_MAX_LENGTH  # the tiny run's 48 tokens
    assert metadata["attention"] == ("eager" if cpu_bf16 else "sdpa")
    assert metadata["train"]["attention"] == "auto"
    model, _, _ = load_reward_model(folder)
    assert model.config._attn_implementation == "sdpa"  # evaluate and score: SDPA
