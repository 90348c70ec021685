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
from typing import NamedTuple

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
