"""How a prompt and a response become the one text a reward model reads.

The template param (``"\\n\\nHuman: {prompt}\\n\\nAssistant: {response}"``, the tutorial's) is read
as *role prefixes*: the text before ``{prompt}`` opens a user turn, the text between ``{prompt}``
and ``{response}`` opens an assistant turn, and anything after ``{response}`` closes it. So the
same param renders a plain (prompt, response) pair and a multi-turn conversation, and a
conversation of one user and one assistant turn renders exactly as the pair would.

:func:`chat_template` writes the same rendering as a Jinja chat template, so a consumer that only
knows ``tokenizer.apply_chat_template`` (TRL's GRPO reward path, say) renders the training text.
Training, evaluate, score, export and the RLHF reward function all render through this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

Message = Mapping[str, str]
ROLES = ("system", "user", "assistant")


class RolePrefixes(NamedTuple):
    user: str
    assistant: str
    end: str


def role_prefixes(template: str) -> RolePrefixes:
    """Split a ``{prompt}``/``{response}`` template into the text around each turn."""
    start, found, rest = template.partition("{prompt}")
    between, found_response, end = rest.partition("{response}")
    if not found or not found_response:
        raise ValueError(f"template {template!r} must hold {{prompt}} before {{response}}")
    return RolePrefixes(start, between, end)


def render_pair(template: str, prompt: str, response: str) -> str:
    """One prompt and one response, as the template lays them out."""
    user, assistant, end = role_prefixes(template)
    return f"{user}{prompt}{assistant}{response}{end}"


def render_conversation(template: str, messages: Sequence[Message]) -> str:
    """Every turn in order; a system turn reads as an instruction, like a user turn."""
    user, assistant, end = role_prefixes(template)
    parts = []
    for message in messages:
        if message["role"] == "assistant":
            parts.append(f"{assistant}{message['content']}{end}")
        else:
            parts.append(f"{user}{message['content']}")
    return "".join(parts)


def chat_template(template: str, bos: str = "", eos: str = "") -> str:
    """A Jinja chat template that renders conversations as :func:`render_conversation` does.

    ``bos``/``eos`` wrap the text in the special tokens the tokenizer adds on its own (BERT's
    ``[CLS]``/``[SEP]``), so ``apply_chat_template`` followed by tokenizing with
    ``add_special_tokens=False`` (what TRL's reward path does) yields the ids training saw.
    """
    user, assistant, end = (json.dumps(part) for part in role_prefixes(template))
    return (
        f"{{{{- {json.dumps(bos)} -}}}}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'assistant' -%}"
        f"{{{{- {assistant} + message['content'] + {end} -}}}}"
        "{%- else -%}"
        f"{{{{- {user} + message['content'] -}}}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        f"{{%- if add_generation_prompt -%}}{{{{- {assistant} -}}}}"
        f"{{%- else -%}}{{{{- {json.dumps(eos)} -}}}}{{%- endif -%}}"
    )


Content = str | Sequence[Message]
"""A prompt or a response: text, or a list of ``{role, content}`` messages."""


def as_messages(value: Content, role: str) -> list[dict[str, str]]:
    """Messages as they are; a text as one message of ``role``."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": m["role"], "content": m["content"]} for m in value]


def tokenizer_chat_template(tokenizer: Any) -> str | None:
    """The tokenizer's own (default) Jinja chat template, or None when it has none."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, Mapping):
        template = template.get("default")
    return template or None


def rendering_spec(
    data_format: Mapping[str, str], tokenizer: Any, use_chat_template: bool
) -> dict[str, Any]:
    """How featurize renders a set of this format for this tokenizer, recorded with the model.

    Only conversations use a chat template (texts already carry their own layout), and only the
    tokenizer's own, when it has one and the params allow it.
    """
    chat = tokenizer_chat_template(tokenizer) if use_chat_template else None
    conversational = data_format["type"] == "conversational"
    return {
        "format": data_format["type"],
        "prompt": data_format["prompt"],
        "chat_template": chat if conversational else None,
    }


def render_text(
    rendering: Mapping[str, Any] | None,
    template: str,
    prompt: Content,
    response: Content,
    tokenizer: Any = None,
) -> tuple[str, bool]:
    """The text a reward model reads for one response, and whether to add special tokens.

    Featurize (training) and ``scoring.encode_responses`` (inference) both call this, so a
    response is rendered the same way in both. ``rendering`` is :func:`rendering_spec`'s record;
    None (a model trained before it existed) means the role template. A chat template's text
    already holds its special tokens, as in TRL's reward path, so none are added to it.
    """
    rendering = rendering or {"format": "standard", "prompt": "explicit", "chat_template": None}
    texts = isinstance(prompt, str) and isinstance(response, str)
    if rendering.get("chat_template"):
        messages = as_messages(prompt, "user") + as_messages(response, "assistant")
        text = tokenizer.apply_chat_template(
            messages, chat_template=rendering["chat_template"], tokenize=False
        )
        return text, False
    if texts and rendering["format"] == "standard" and rendering["prompt"] == "implicit":
        return prompt + response, True  # hh-rlhf: the text already carries its turns
    if texts:
        return render_pair(template, prompt, response), True
    messages = as_messages(prompt, "user") + as_messages(response, "assistant")
    return render_conversation(template, messages), True


def response_chars(response: Content) -> int:
    """Length of a response in characters (for length baselines), text or messages alike."""
    if isinstance(response, str):
        return len(response)
    return sum(len(m["content"]) for m in response)
