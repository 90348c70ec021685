"""The tokenization contract a reward model carries to every consumer.

A reward is only meaningful for the token ids the model was trained on. Consumers tokenize in
their own ways: TRL's GRPO renders conversations with ``tokenizer.apply_chat_template`` and then
tokenizes with ``add_special_tokens=False``, without truncation, padding on the right;
``pipeline("text-classification")`` tokenizes plain text with the special tokens and truncates to
``model_max_length``. So the saved tokenizer states the contract itself:

- a chat template that renders a conversation exactly as training rendered it *and* writes the
  special tokens the tokenizer added in training (BERT's ``[CLS]``/``[SEP]``), so ids from
  ``apply_chat_template`` + ``add_special_tokens=False`` equal the training ids; where training
  rendered with the tokenizer's own chat template, that template is kept;
- ``model_max_length`` = the trained token budget, so truncating consumers cut where training cut;
- right padding and right truncation, as in training.

:func:`check_contract` proves the template on probe conversations before a folder is written.
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase

from rewardlab.data.rendering import chat_template

PADDING_SIDE = "right"
# Probes for check_contract: one turn, several turns with a system message, and odd spacing.
PROBES = (
    [{"role": "user", "content": "How do I keep bread fresh?"}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Name a planet."},
        {"role": "assistant", "content": "Mars."},
        {"role": "user", "content": "Another one?"},
    ],
    [{"role": "user", "content": "  spaces  and\ttabs\n"}],
)
PROBE_ANSWER = [{"role": "assistant", "content": "Store it in a paper bag at room temperature."}]


def special_wrapping(tokenizer: PreTrainedTokenizerBase) -> tuple[str, str]:
    """The special tokens the tokenizer puts before and after a text on its own, as text.

    BERT gives ``("[CLS]", "[SEP]")``, GPT-2 ``("", "")``, Llama ``("<s>", "")``.
    """
    probe = "reward model probe"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            before, after = full[:start], full[start + len(plain) :]
            return (
                "".join(tokenizer.convert_ids_to_tokens(before)),
                "".join(tokenizer.convert_ids_to_tokens(after)),
            )
    raise RuntimeError(f"cannot tell the special tokens of {type(tokenizer).__name__} apart")


def contract_template(tokenizer: PreTrainedTokenizerBase, metadata: dict[str, Any]) -> str:
    """The chat template a consumer must use: training's own, or the role template + specials."""
    own = (metadata.get("rendering") or {}).get("chat_template")
    if own:
        return own
    bos, eos = special_wrapping(tokenizer)
    return chat_template(metadata["template"], bos=bos, eos=eos)


def pin_tokenizer(tokenizer: PreTrainedTokenizerBase, metadata: dict[str, Any]) -> None:
    """Write the contract into ``tokenizer`` (saved with ``save_pretrained`` afterwards)."""
    tokenizer.chat_template = contract_template(tokenizer, metadata)
    tokenizer.model_max_length = metadata["max_length"]
    tokenizer.padding_side = PADDING_SIDE
    tokenizer.truncation_side = "right"
    # Written to tokenizer_config.json even where right is the class default, so it is explicit.
    tokenizer.init_kwargs.update(padding_side=PADDING_SIDE, truncation_side="right")


def check_contract(tokenizer: PreTrainedTokenizerBase, metadata: dict[str, Any]) -> None:
    """Fail unless the pinned chat template gives the ids rewardlab scores with, for every probe."""
    from rewardlab.model.scoring import encode_responses

    untruncated = {**metadata, "max_length": 1 << 20}  # the template is on trial, not the budget
    for prompt in PROBES:
        text = tokenizer.apply_chat_template(prompt + PROBE_ANSWER, tokenize=False)
        consumer = tokenizer(text, add_special_tokens=False)["input_ids"]
        trained = encode_responses(tokenizer, untruncated, [prompt], [PROBE_ANSWER])[0]
        if consumer != trained:
            raise RuntimeError(
                f"the chat template does not reproduce the training ids for {prompt!r}:\n"
                f"{consumer}\n{trained}"
            )
