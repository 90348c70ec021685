"""Tiny, randomly initialised reward models of the kinds researchers compare against, saved as
folders (safetensors, with their tokenizers) from the session's tiny BERT and GPT-2:

- a BERT-like sequence classifier whose tokenizer has no chat template (read as text pairs, as
  OpenAssistant's DeBERTa reward model is);
- a GPT-2 classifier with a pad token (read through a role template);
- a small Llama-style classifier whose tokenizer has a ChatML chat template (read through it,
  as Skywork-Reward-V2 and most current reward models are).

Each has exactly one output and a saved score head, so each loads as a reference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import CHATML


def bert_reward_model(tiny_bert: Path, folder: Path, num_labels: int = 1) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, set_seed

    set_seed(1)
    config = BertConfig.from_pretrained(tiny_bert, num_labels=num_labels)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


def gpt2_reward_model(tiny_gpt2: Path, folder: Path) -> Path:
    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification, set_seed

    set_seed(2)
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.pad_token = tokenizer.eos_token  # a pad token of its own, saved with it
    config = GPT2Config.from_pretrained(
        tiny_gpt2, num_labels=1, pad_token_id=tokenizer.pad_token_id
    )
    GPT2ForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def llama_reward_model(tiny_gpt2: Path, folder: Path) -> Path:
    """A 2-layer Llama classifier on the tiny byte-level BPE, with ChatML as its chat template."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification, set_seed

    set_seed(3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.chat_template = CHATML
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def pickled_only(model: Path, folder: Path) -> Path:
    """``model`` with its weights as a pickled ``pytorch_model.bin`` instead of safetensors."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(model, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder
