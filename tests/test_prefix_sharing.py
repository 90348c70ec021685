"""Prefix sharing gives the two-sequence path's rewards, loss and gradients, on one row per pair.

Tiny random GPT-2, Llama and Qwen2 classifiers with LoRA (random B, so the adapter matters),
fp32, in batches whose pairs differ in length, including a side that ends in the pad token
(GPT-2's pad is its eos), a pair whose sides are equal and one whose rejected side is a prefix
of the chosen.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (
    AutoTokenizer,
    BertConfig,
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    Qwen2Config,
    Qwen2ForSequenceClassification,
    set_seed,
)
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from rewardlab.core.errors import UserError
from rewardlab.core.params import FeaturizeParams, TrainParams
from rewardlab.data.tokenizing import render_split, tokenize_split
from rewardlab.model import packing, prefix_sharing, scoring
from rewardlab.model.prefix_sharing import PrefixSharingCollator, shared_batch, shared_rewards
from rewardlab.model.scoring import score_pair_ids, score_pair_responses
from rewardlab.model.training import PrefixSharingRewardTrainer, trainer_kind

PAD, VOCAB = 0, 64
TEMPLATE = FeaturizeParams().template


def tiny_model(
    kind: str, attention: str = "sdpa", seed: int = 0, vocab: int = VOCAB
) -> torch.nn.Module:
    set_seed(seed)
    if kind == "gpt2":
        config = GPT2Config(
            vocab_size=vocab,
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            pad_token_id=PAD,
            eos_token_id=PAD,  # GPT-2's pad is its eos
            bos_token_id=PAD,
        )
        model, targets = GPT2ForSequenceClassification, ["attn.c_attn", "attn.c_proj"]
    else:  # Llama and Qwen2: RMSNorm, rotary positions, grouped-query attention
        config_class, model = {
            "llama": (LlamaConfig, LlamaForSequenceClassification),
            "qwen2": (Qwen2Config, Qwen2ForSequenceClassification),
        }[kind]
        config = config_class(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            pad_token_id=PAD,
        )
        targets = ["q_proj", "v_proj"]
    config.num_labels, config._attn_implementation = 1, attention
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=4,
        target_modules=targets,
        modules_to_save=["score"],
        fan_in_fan_out=kind == "gpt2",
        init_lora_weights=False,  # random B: the adapter changes the rewards
    )
    # Eval mode: no dropout, whose masks the two layouts would draw differently.
    return get_peft_model(model(config), lora).eval()


def pairs(seed: int = 1, n: int = 6) -> tuple[list[list[int]], list[list[int]]]:
    """Pairs with prompts of 2-12 and answers of 1-8 tokens, and the awkward cases."""
    g = torch.Generator().manual_seed(seed)

    def ids(low: int, high: int) -> list[int]:
        length = int(torch.randint(low, high, (1,), generator=g))
        return torch.randint(1, VOCAB, (length,), generator=g).tolist()

    chosen, rejected = [], []
    for _ in range(n):
        prompt = ids(2, 12)
        chosen.append(prompt + ids(1, 8))
        rejected.append(prompt + ids(1, 8))
    chosen[1] = [*chosen[1], PAD]  # ends in the pad token: its reward is read one earlier
    rejected[2] = list(chosen[2])  # both sides equal
    rejected[3] = chosen[3][:-2]  # the rejected side is a prefix of the chosen one
    return chosen, rejected


def two_sequence_rewards(model, chosen, rejected) -> torch.Tensor:
    examples = [{"chosen_ids": c, "rejected_ids": r} for c, r in zip(chosen, rejected, strict=True)]
    batch = DataCollatorForPreference(pad_token_id=PAD)(examples)
    return model(**{k: v.to(model.device) for k, v in batch.items()}).logits


def loss_of(rewards: torch.Tensor) -> torch.Tensor:
    chosen, rejected = rewards.squeeze(-1).chunk(2)
    return -torch.nn.functional.logsigmoid(chosen - rejected).mean()


def lora_grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def assert_same_as_two_sequences(one, two, got, expected) -> None:
    """Rewards and loss within 1e-5, LoRA gradients within 1e-4 relative (the issue's bar)."""
    assert torch.allclose(one, two, atol=1e-5, rtol=0)
    assert abs(loss_of(one).item() - loss_of(two).item()) < 1e-5
    assert got.keys() == expected.keys() and any("lora_B" in name for name in got)
    for name, grad in expected.items():
        assert torch.linalg.norm(got[name] - grad) <= 1e-4 * torch.linalg.norm(grad), name


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("kind", ["gpt2", "llama", "qwen2"])
def test_shared_rewards_loss_and_lora_gradients_equal_the_two_sequence_path(kind, attention):
    model = tiny_model(kind, attention)
    chosen, rejected = pairs()
    two = two_sequence_rewards(model, chosen, rejected)
    loss_of(two).backward()
    expected = lora_grads(model)
    model.zero_grad()
    batch = shared_batch(chosen, rejected, PAD)
    one = shared_rewards(model, batch)
    loss_of(one).backward()
    assert_same_as_two_sequences(one, two, lora_grads(model), expected)
    # One row per pair, shorter than two rows of the longest side.
    assert batch["input_ids"].shape[0] == len(chosen)
    assert batch["input_ids"].numel() < 2 * len(chosen) * max(map(len, chosen + rejected))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_the_mask_is_a_real_mask_for_sdpa_on_cuda(kind):
    model = tiny_model(kind).cuda()
    chosen, rejected = pairs()
    two = two_sequence_rewards(model, chosen, rejected)  # the collator's tensors, moved below
    batch = {k: v.cuda() for k, v in shared_batch(chosen, rejected, PAD).items()}
    assert torch.allclose(shared_rewards(model, batch).cpu(), two.cpu(), atol=1e-4, rtol=0)


def test_margins_travel_in_shared_and_fallback_batches():
    examples = [
        {"chosen_ids": [1] * 30 + [2], "rejected_ids": [1] * 30 + [3], "margin": 0.5},
        {"chosen_ids": [4, 2] + [2] * 30, "rejected_ids": [4, 3] + [3] * 30, "margin": 1.0},
    ]
    shared = PrefixSharingCollator(PAD, auto=False)(examples)
    fallback = PrefixSharingCollator(PAD)(examples[1:])
    assert shared["margin"].tolist() == [0.5, 1.0] and fallback["margin"].tolist() == [1.0]
    assert not prefix_sharing.is_shared(fallback)


def test_the_layout_by_hand():
    """Prompt [5, 6], chosen answer [7, 8], rejected answer [9]: one row, positions continuing
    from the prompt on both sides, the rejected token blind to the chosen ones."""
    pair = prefix_sharing.layout([5, 6, 7, 8], [5, 6, 9], PAD)
    assert pair.ids == [5, 6, 7, 8, 9]
    assert pair.positions == [0, 1, 2, 3, 2]
    assert (pair.chosen_index, pair.rejected_index) == (3, 4)
    batch = shared_batch([[5, 6, 7, 8], [1, 2]], [[5, 6, 9], [1, 3]], PAD)
    mask = packing.attention_mask(batch["segment_ids"], "sdpa", torch.float32)
    assert mask[0, 0].int().tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 0, 1],  # the rejected token sees the prompt and itself only
    ]
    assert mask[1, 0, 3].int().tolist() == [0, 0, 0, 1, 0]  # padding sees itself: no empty row
    eager = packing.attention_mask(batch["segment_ids"], "eager", torch.float32)
    assert eager.dtype == torch.float32 and torch.equal(eager == 0, mask)


def test_batches_are_grouped_by_the_width_of_the_shared_row():
    data = Dataset.from_dict(
        {"chosen_ids": [[5, 6, 7, 8], [1, 2]], "rejected_ids": [[5, 6, 9], [3]], "length": [4, 2]}
    )
    assert prefix_sharing.with_shared_lengths(data)["length"] == [5, 3]


def test_scoring_pairs_shared_gives_the_two_sequence_rewards():
    model = tiny_model("gpt2").merge_and_unload().eval()
    chosen, rejected = pairs(seed=3, n=11)
    two = score_pair_ids(model, chosen, rejected, PAD, batch_size=4)
    one = score_pair_ids(model, chosen, rejected, PAD, batch_size=4, shared=True)
    assert np.allclose(one, two, atol=1e-5, rtol=0)
    assert two[0][2] == pytest.approx(two[1][2], abs=1e-6)  # the pair whose sides are equal


def test_shared_scoring_under_a_small_token_budget_gives_the_same_rewards(monkeypatch):
    """Batches cut by the token budget (here a few pairs each) change no reward."""
    model = tiny_model("gpt2").merge_and_unload().eval()
    chosen, rejected = pairs(seed=5, n=13)
    whole = score_pair_ids(model, chosen, rejected, PAD, batch_size=64, shared=True)
    batches = []
    real = prefix_sharing.shared_batch
    monkeypatch.setattr(prefix_sharing, "shared_batch", lambda *a: batches.append(a) or real(*a))
    monkeypatch.setattr(scoring, "TOKEN_BUDGET", 24)
    cut = score_pair_ids(model, chosen, rejected, PAD, batch_size=64, shared=True)
    assert len(batches) > 2  # one batch of 13 pairs without the budget
    assert np.allclose(cut, whole, atol=1e-5, rtol=0)


def test_auto_is_on_for_decoders_and_off_for_encoders():
    gpt2, llama = tiny_model("gpt2").config, tiny_model("llama").config
    bert = BertConfig()
    assert prefix_sharing.resolve("auto", gpt2) and prefix_sharing.resolve("auto", llama)
    assert not prefix_sharing.resolve("auto", bert)
    assert not prefix_sharing.resolve("off", gpt2)
    with pytest.raises(UserError, match="needs a decoder-only base"):
        prefix_sharing.resolve("on", bert)
    flash = GPT2Config()
    flash._attn_implementation = "flash_attention_2"
    assert not prefix_sharing.resolve("auto", flash)
    with pytest.raises(UserError, match="takes a 4D mask"):
        prefix_sharing.resolve("on", flash)
    # YAML 1.1 reads a bare on/off as a boolean; it means the word.
    assert TrainParams(prefix_sharing=True).prefix_sharing == "on"
    assert TrainParams(prefix_sharing=False).prefix_sharing == "off"


def test_auto_falls_back_to_two_sequences_where_sharing_saves_little():
    long_answers = [{"chosen_ids": [1] + [2] * 30, "rejected_ids": [1] + [3] * 30}]
    long_prompt = [{"chosen_ids": [1] * 30 + [2], "rejected_ids": [1] * 30 + [3]}]
    assert prefix_sharing.saving([e["chosen_ids"] for e in long_answers], [[1] + [3] * 30]) < 0.05
    auto, on = PrefixSharingCollator(PAD), PrefixSharingCollator(PAD, auto=False)
    assert not prefix_sharing.is_shared(auto(long_answers))
    assert prefix_sharing.is_shared(on(long_answers))
    assert prefix_sharing.is_shared(auto(long_prompt))


def preference_set(n: int = 24) -> Dataset:
    chosen, rejected = pairs(seed=5, n=n)
    return Dataset.from_dict(
        {
            "chosen_ids": chosen,
            "rejected_ids": rejected,
            "length": [max(len(c), len(r)) for c, r in zip(chosen, rejected, strict=True)],
        }
    )


def train_tiny(tmp_path, setting: str, tokenizer, name: str, packing: str = "off"):
    """A few steps of rewardlab's trainer set-up on the tiny GPT-2 (lr high enough to move), in
    the order of RewardConfig's random sampler (seed 0), whatever the collator."""
    model = tiny_model("gpt2", seed=7)
    trainer_class, collator = trainer_kind(setting, model, PAD, packing)
    args = RewardConfig(
        output_dir=str(tmp_path / name),
        seed=0,
        learning_rate=1e-2,
        max_steps=4,
        per_device_train_batch_size=6,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        remove_unused_columns=False,
        disable_dropout=True,
        save_strategy="no",
        bf16=False,  # fp32: the equality is to 1e-5
        activation_checkpointing=True,  # TRL's default: the shared forward under checkpointing
    )
    data = preference_set()
    trainer = trainer_class(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=data,
        processing_class=tokenizer,
    )
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return trainer, losses, weights


@pytest.fixture(scope="module")
def pad_tokenizer(tiny_gpt2):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(PAD)
    return tokenizer


def test_reward_trainer_with_the_shared_collator_matches_the_two_sequence_run(
    tmp_path, pad_tokenizer
):
    shared, shared_losses, shared_weights = train_tiny(tmp_path, "on", pad_tokenizer, "on")
    plain, plain_losses, plain_weights = train_tiny(tmp_path, "off", pad_tokenizer, "off")
    assert isinstance(shared, PrefixSharingRewardTrainer) and type(plain) is RewardTrainer
    assert len(shared_losses) == len(plain_losses) == 4
    assert np.allclose(shared_losses, plain_losses, atol=1e-5, rtol=0)
    for name, weight in plain_weights.items():
        assert torch.allclose(shared_weights[name], weight, atol=1e-5), name
    assert shared.sharing["batches"] == shared.sharing["shared"] == 4
    assert shared.sharing["tokens"] < shared.sharing["two_sequence_tokens"]
    # A second run is bit-identical on CPU.
    _, again_losses, again_weights = train_tiny(tmp_path, "on", pad_tokenizer, "again")
    assert again_losses == shared_losses
    assert all(torch.equal(again_weights[n], w) for n, w in shared_weights.items())


def test_the_prompt_is_tokenized_apart_and_a_merge_across_the_cut_is_the_same_on_both_paths(
    tiny_gpt2,
):
    """Byte-level BPE joins a space to the word after it: the cut goes before the space, so the
    role template's pairs keep their whole-text ids. An implicit prompt that ends mid-word
    ("...studi" + "ed by...") merges across the cut when the text is tokenized whole (one token,
    " studied"); apart, both sides start with the prompt's ids and both paths read those ids."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    rows = [
        {"prompt": "Tell me one fact about rain.", "chosen": "Here is a fact.", "rejected": "No."},
        {"prompt": "Rain is studi", "chosen": "ed by experts.", "rejected": "o time."},
    ]
    rendering = {"format": "standard", "prompt": "implicit", "chat_template": None}
    role = render_split(Dataset.from_list(rows[:1]), TEMPLATE, None, tokenizer, apart=True)
    implicit = render_split(Dataset.from_list(rows[1:]), TEMPLATE, rendering, tokenizer, True)
    assert role[0]["chosen_text"][: role[0]["chosen_response_start"]].endswith("Assistant:")
    budget = FeaturizeParams(max_length=64)
    role_ids, role_stats = tokenize_split(role, tokenizer, budget)
    whole = tokenizer(role[0]["chosen_text"])["input_ids"]
    assert role_ids[0]["chosen_ids"] == whole and role_stats["pairs_retokenized"] == 0
    ids, stats = tokenize_split(implicit, tokenizer, budget)
    prompt_ids = tokenizer("Rain is studi")["input_ids"]
    assert stats["pairs_retokenized"] == 1
    assert tokenizer("Rain is studied by experts.")["input_ids"][: len(prompt_ids)] != prompt_ids
    for side in ("chosen", "rejected"):
        assert ids[0][f"{side}_ids"][: len(prompt_ids)] == prompt_ids
    chosen, rejected = [ids[0]["chosen_ids"]], [ids[0]["rejected_ids"]]
    assert prefix_sharing.common_prefix(chosen[0], rejected[0]) >= len(prompt_ids)
    model = tiny_model("gpt2", vocab=len(tokenizer)).merge_and_unload().eval()
    pad = tokenizer.eos_token_id
    assert np.allclose(
        score_pair_ids(model, chosen, rejected, pad, shared=True),
        score_pair_ids(model, chosen, rejected, pad),
        atol=1e-5,
    )


def test_encoders_keep_tokenizing_the_whole_text(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    rows = [{"prompt": "fact about rain", "chosen": "rain is studied", "rejected": "no"}]
    rendered = render_split(Dataset.from_list(rows), TEMPLATE, None, tokenizer)
    ids, stats = tokenize_split(rendered, tokenizer, FeaturizeParams())
    assert "chosen_response_start" not in ids.column_names and "pairs_retokenized" not in stats
    assert ids[0]["chosen_ids"] == tokenizer(rendered[0]["chosen_text"])["input_ids"]


def test_the_tiny_run_trained_evaluated_and_scores_with_prefix_sharing(tiny_run, tmp_path):
    """The GPT-2 pipeline run (auto): shared in train, evaluate and `rewardlab score`, with the
    rewards the two-sequence path gives for the same ids."""
    from datasets import load_from_disk

    from rewardlab.model.loading import load_reward_model
    from rewardlab.tools import score

    folder = tiny_run / "models/reward_model"
    assert not list((tiny_run / "data/features").rglob("cache-*"))  # train's lengths in memory
    metadata = json.loads((folder / "rewardlab.json").read_text())
    assert metadata["prefix_sharing"] is True and metadata["tokenization"] == "prompt+response"
    assert metadata["packing"] is True  # train.packing auto: wherever training is shared
    model, tokenizer, metadata = load_reward_model(folder)
    test = load_from_disk(str(tiny_run / "data/features"))["test"]
    two = score_pair_ids(model, test["chosen_ids"], test["rejected_ids"], tokenizer.pad_token_id)
    rows = [
        json.loads(line) for line in (tiny_run / "reports/scores.jsonl").read_text().splitlines()
    ]
    assert np.allclose([r["chosen_reward"] for r in rows], two[0], atol=1e-5)
    assert np.allclose([r["rejected_reward"] for r in rows], two[1], atol=1e-5)
    # `rewardlab score` encodes as featurize did and scores shared: evaluate's rewards.
    source = [json.loads(line) for line in (tiny_run / "data/prepared/test.jsonl").open()]
    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(row) + "\n" for row in source))
    score.main(
        ["--model", str(folder), "--input", str(pairs_file), "--output", str(tmp_path / "o.jsonl")]
    )
    scored = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert np.allclose([r["chosen_reward"] for r in scored], two[0], atol=1e-5)
    responses = score_pair_responses(
        model, tokenizer, metadata, test["prompt"], test["chosen"], test["rejected"]
    )
    assert np.allclose(responses, two, atol=1e-5)


def test_the_summary_says_what_sharing_saved():
    from rewardlab.model.training import sharing_summary

    counts = {"batches": 4, "shared": 3, "tokens": 750, "two_sequence_tokens": 1000}
    assert sharing_summary(counts) == "prefix sharing: 3/4 batches shared, 25% fewer tokens"


def test_an_encoder_run_keeps_two_sequences_and_whole_text_ids(tiny_bert, tmp_path_factory):
    """``auto`` on a BERT base: TRL's path, as before; the metadata says so."""
    from tiny_run import finished_run

    run = finished_run(tmp_path_factory, tiny_bert)
    metadata = json.loads((run / "models/reward_model/rewardlab.json").read_text())
    stats = json.loads((run / "data/features/stats.json").read_text())
    assert metadata["prefix_sharing"] is False and metadata["packing"] is False
    assert "tokenization" not in metadata
    assert "tokenization" not in stats and "pairs_retokenized" not in stats["train"]
