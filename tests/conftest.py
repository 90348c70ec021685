"""Shared fixtures: tiny models and data built on the spot, so no test needs the network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Tiny models run faster on one thread, and a fixed count keeps CPU runs bitwise repeatable.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


def toy_pairs(n: int) -> list[dict[str, str]]:
    """Distinct pairs where the good answer is on topic and the bad one refuses."""
    topics = ["rain", "stars", "bread", "ships", "trees", "music", "coffee", "rivers"]
    return [
        {
            "prompt": f"Tell me one fact about {topics[i % 8]} (question {i}).",
            "chosen": f"Here is a fact about {topics[i % 8]}: it is studied by experts.",
            "rejected": "I refuse to answer that.",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer GPT-2 with a byte-level BPE tokenizer trained here.

    Like the real `gpt2`, its tokenizer has an eos token and no pad token, so the pad = eos
    code path is exercised.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    corpus = [f"{p['prompt']} {p['chosen']} {p['rejected']}" for p in toy_pairs(64)]
    corpus.append("\n\nHuman: \n\nAssistant: ")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=400, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.save_pretrained(folder)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_run(tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny pipeline run on ``tiny_gpt2`` (tiny_run.py), trained once per session
    and shared by every test that only reads it."""
    from tiny_run import finished_run

    return finished_run(tmp_path_factory, tiny_gpt2)


def write_params(folder: Path, overrides: dict) -> Path:
    """Write ``params.yaml`` into ``folder``: the repo's params with ``overrides`` merged in."""
    import yaml

    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    # The repo's everyday check set lives outside a test's folder; a test that wants evaluation
    # sets names them.
    params["evaluate"]["sets"] = {}
    for section, values in overrides.items():
        params.setdefault(section, {}).update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


# ChatML, as many chat models use; the BPE above has never seen its markers, which is fine.
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_gpt2_chat(tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GPT-2 with a chat template, as a chat model's tokenizer has one."""
    import shutil

    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-gpt2-chat")
    shutil.copytree(tiny_gpt2, folder, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece tokenizer trained here.

    Like MiniLM (the default base), its tokenizer wraps every text in [CLS] ... [SEP], its
    position embeddings are absolute, and its score head has a bias.
    """
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    corpus = [f"{p['prompt']} {p['chosen']} {p['rejected']}" for p in toy_pairs(64)]
    corpus.append("Human: Assistant: system user")
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(corpus, vocab_size=300)
    wordpiece.save_model(str(folder))
    # `vocab=`: transformers 5 ignores `vocab_file=` here and maps every word to [UNK].
    BertTokenizerFast(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertForMaskedLM(config).save_pretrained(folder)
    ids = BertTokenizerFast.from_pretrained(folder)("fact about rain")["input_ids"]
    assert ids.count(wordpiece.token_to_id("[UNK]")) == 0, ids
    return folder
