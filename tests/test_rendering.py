"""Role-prefix rendering: pairs, conversations and the Jinja chat template agree exactly."""

import pytest
from jinja2 import Environment

from rewardlab.data.rendering import chat_template, render_conversation, render_pair, role_prefixes

TEMPLATE = "\n\nHuman: {prompt}\n\nAssistant: {response}"


def render_jinja(source: str, messages: list[dict], **kwargs) -> str:
    return Environment().from_string(source).render(messages=messages, **kwargs)


def test_a_pair_renders_as_the_tutorial_formats_it():
    assert render_pair(TEMPLATE, "Hi?", "Hello.") == "\n\nHuman: Hi?\n\nAssistant: Hello."


def test_one_exchange_renders_as_the_pair_and_every_turn_is_kept():
    one = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    assert render_conversation(TEMPLATE, one) == render_pair(TEMPLATE, "Hi?", "Hello.")
    two = [*one, {"role": "user", "content": "And?"}, {"role": "assistant", "content": "Bye."}]
    assert render_conversation(TEMPLATE, two) == (
        "\n\nHuman: Hi?\n\nAssistant: Hello.\n\nHuman: And?\n\nAssistant: Bye."
    )


def test_text_after_the_response_closes_every_assistant_turn():
    template = "<u>{prompt}</u><a>{response}</a>"
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]
    assert render_conversation(template, messages) == "<u>Be brief.<u>Q</u><a>A</a>"


@pytest.mark.parametrize("template", [TEMPLATE, "<u>{prompt}</u><a>{response}</a>\n"])
def test_the_chat_template_renders_what_render_conversation_does(template):
    messages = [
        {"role": "user", "content": 'Quotes " and {{ braces }} and \\ survive'},
        {"role": "assistant", "content": "Ünïcode ✓"},
        {"role": "user", "content": "Next"},
        {"role": "assistant", "content": "Done"},
    ]
    source = chat_template(template, bos="[CLS]", eos="[SEP]")
    assert render_jinja(source, messages) == (
        "[CLS]" + render_conversation(template, messages) + "[SEP]"
    )
    prompt_only = render_jinja(source, messages[:1], add_generation_prompt=True)
    assert prompt_only == "[CLS]" + render_conversation(template, messages[:1]) + (
        role_prefixes(template).assistant
    )


def test_a_template_without_both_fields_is_refused():
    with pytest.raises(ValueError, match="before"):
        role_prefixes("{response} then {prompt}")
