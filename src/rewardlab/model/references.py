"""Reference reward models: any one-output sequence classifier, read the way it was trained.

A researcher's first question about a trained reward model is whether it beats a known one on
the same pairs: OpenAssistant's DeBERTa, Skywork-Reward-V2, last month's export. Each of those
reads its input differently, so a reference names its ``input`` mode (``ReferenceParams``):

- ``chat_template``: the conversation (the prompt as a user turn, or a multi-turn prompt's own
  messages, then the response as the assistant turn) through the tokenizer's chat template,
  tokenized without adding special tokens (the template writes them), as Skywork-Reward-V2's
  card does;
- ``text_pair``: ``tokenizer(prompt, response)``, the two texts as a tokenizer pair (with their
  segment ids where the model embeds segments, as BERT does), as OpenAssistant's
  ``reward-model-deberta-v3-large-v2`` was trained (a multi-turn prompt is rendered as a
  "Human:/Assistant:" transcript first);
- ``template``: prompt and response laid out by a role template, as ``featurize.template``
  lays them out for the trained model, with the tokenizer's special tokens;
- ``auto``: a rewardlab folder (``models/reward_model`` or a ``rewardlab export``) reads its
  own contract exactly as ``rewardlab score`` reads it (its recorded rendering and token
  budget); any other model ``chat_template`` when its tokenizer has one, else ``text_pair``.

A prompt that is an hh-rlhf transcript (``"\\n\\nHuman: ...\\n\\nAssistant:"``, as prepare keeps an
implicit prompt) reaches the first three modes as its turns, not as one text with the markers.

Inputs longer than the reference's budget are cut on the tokenizer's truncation side (right,
for every tokenizer in common use): ``max_length`` when set, else the tokenizer's
``model_max_length``, at most the model's position embeddings and :data:`MAX_LENGTH_CAP`.
Weights load from safetensors only, and a model's own code runs only with
``trust_remote_code``, as for the base model (``model/loading.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from rewardlab.core.errors import UserError
from rewardlab.core.hub import resolve_pinned
from rewardlab.core.params import ReferenceParams
from rewardlab.core.paths import repo_relative
from rewardlab.data.rendering import (
    Content,
    as_messages,
    render_conversation,
    render_text,
    tokenizer_chat_template,
)
from rewardlab.data.sources.local import is_local_path, where
from rewardlab.model.loading import METADATA_FILE, hub_error, load_reward_model, quiet_loading
from rewardlab.model.scoring import Precision, encode_responses, score_pair_ids, score_token_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel

MAX_LENGTH_CAP = 4096  # tokens: a "no limit" tokenizer (1e30) must not mean a 100k-token batch
TRANSCRIPT = "\n\nHuman: {prompt}\n\nAssistant: {response}"  # text_pair's multi-turn prompts
HH_TURN = re.compile(r"\n\n(Human|Assistant):")
REWARDLAB = "rewardlab"  # the resolved input of a rewardlab folder read through its contract


class Names(NamedTuple):
    """Where a reference's settings live, for messages: params keys, or a command's flags."""

    model: str
    input: str
    remote_code: str


def param_names(key: str) -> Names:
    """The names of ``evaluate.references.NAME``'s keys."""
    return Names(f"{key}.model", f"{key}.input", f"{key}.trust_remote_code")


FLAG_NAMES = Names("--model", "--model-input", "--trust-remote-code")


@dataclass
class Reference:
    """A loaded reference: the model in eval mode, its tokenizer, and how it reads a pair."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    input: str
    """The resolved mode: chat_template, text_pair, template, or rewardlab (a folder's contract)."""
    max_length: int
    spec: ReferenceParams
    commit: str | None = None
    """The Hub commit it was loaded at (None for a local folder)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """A rewardlab folder's ``rewardlab.json``; empty for any other model."""

    def encode(self, prompts: Sequence[Content], responses: Sequence[Content]) -> list[list[int]]:
        """Token ids of each (prompt, response), as this reference reads them."""
        return self.tokenize(prompts, responses)[0]

    def tokenize(
        self, prompts: Sequence[Content], responses: Sequence[Content]
    ) -> tuple[list[list[int]], list[list[int]] | None]:
        """The ids, and for a text pair the segment ids when the model embeds segments."""
        if not prompts:
            return [], None
        tokenizer, budget = self.tokenizer, {"truncation": True, "max_length": self.max_length}
        if self.input == REWARDLAB:  # its own rendering, implicit transcripts included
            metadata = {**self.metadata, "max_length": self.max_length}
            return encode_responses(tokenizer, metadata, prompts, responses), None
        pairs = [as_turns(p, r) for p, r in zip(prompts, responses, strict=True)]
        prompts, responses = [p for p, _ in pairs], [r for _, r in pairs]
        if self.input == "text_pair":
            firsts = [_prompt_text(prompt) for prompt in prompts]
            seconds = [r if isinstance(r, str) else _contents(r) for r in responses]
            encoded = tokenizer(firsts, seconds, **budget)
            segments = getattr(self.model.config, "type_vocab_size", 0) or 0
            types = encoded.get("token_type_ids") if segments > 1 else None
            return encoded["input_ids"], types
        if self.input == "chat_template":
            rendering = {"chat_template": tokenizer_chat_template(tokenizer)}
            texts = [render_text(rendering, "", p, r, tokenizer)[0] for p, r in pairs]
            return tokenizer(texts, add_special_tokens=False, **budget)["input_ids"], None
        texts = [render_text(None, self.spec.template or "", p, r)[0] for p, r in pairs]
        return tokenizer(texts, add_special_tokens=True, **budget)["input_ids"], None

    def describe(self) -> dict[str, Any]:
        """What was scored with, for the record the references stage writes."""
        return {
            "model": repo_relative(self.spec.model),  # no checkout's path in a cached output
            "revision": self.spec.revision,
            "commit": self.commit,
            "input": self.spec.input,
            "resolved_input": self.input,
            "max_length": self.max_length,
        }


def as_turns(prompt: Content, response: Content) -> tuple[Content, Content]:
    """An hh-rlhf style transcript prompt (``"\\n\\nHuman: ...\\n\\nAssistant:"``, an implicit
    prompt as prepare keeps it) as its messages, and its response without the space after
    "Assistant:"; anything else as it is. A reference reads the turns, not the markers."""
    if not isinstance(prompt, str) or not isinstance(response, str):
        return prompt, response
    parts = HH_TURN.split(prompt)
    if parts[0] or len(parts) < 5 or parts[-2] != "Assistant" or parts[-1].strip():
        return prompt, response
    roles = {"Human": "user", "Assistant": "assistant"}
    turns = [{"role": roles[role], "content": text.strip()}
             for role, text in zip(parts[1:-2:2], parts[2:-2:2], strict=True)]  # fmt: skip
    return turns, response.lstrip()


def _prompt_text(prompt: Content) -> str:
    """A prompt as text_pair's first text: a text as it is, one message as its content, more
    messages as a "Human:/Assistant:" transcript."""
    if isinstance(prompt, str):
        return prompt
    messages = as_messages(prompt, "user")
    if len(messages) == 1:
        return messages[0]["content"]
    return render_conversation(TRANSCRIPT, messages).strip()


def _contents(messages: Sequence[Any]) -> str:
    return "\n\n".join(message["content"] for message in as_messages(messages, "assistant"))


def score_texts(
    reference: Reference,
    prompts: Sequence[Content],
    responses: Sequence[Content],
    precision: Precision = "fp32",
    desc: str = "Scoring",
) -> list[float]:
    """One reward per (prompt, response), in input order: the function every caller (the
    references stage, ``rewardlab score``, ``compare``, best-of-N sets) scores a reference with."""
    sequences, types = reference.tokenize(prompts, responses)
    pad = reference.tokenizer.pad_token_id
    batch = reference.spec.batch_size
    return score_token_ids(reference.model, sequences, pad, batch, desc, precision, types)


def score_pair_texts(
    reference: Reference,
    prompts: Sequence[Content],
    chosen: Sequence[Content],
    rejected: Sequence[Content],
    precision: Precision = "fp32",
) -> tuple[list[float], list[float]]:
    """Rewards of both responses of every prompt. A rewardlab model trained with prefix sharing
    is scored one row per pair, as evaluate scores it; any other model reads both sides in one
    pass of length-sorted batches."""
    if reference.metadata.get("prefix_sharing"):
        return score_pair_ids(
            reference.model,
            reference.encode(prompts, chosen),
            reference.encode(prompts, rejected),
            reference.tokenizer.pad_token_id,
            reference.spec.batch_size,
            shared=True,
            precision=precision,
        )
    flat = score_texts(reference, [*prompts, *prompts], [*chosen, *rejected], precision)
    return flat[: len(prompts)], flat[len(prompts) :]


def locate(spec: ReferenceParams, names: Names) -> tuple[str, str | None]:
    """What to load (a folder, a Hub id, or its cached snapshot) and the Hub commit, if any."""
    folder = Path(spec.model).expanduser()
    if folder.is_file():
        raise UserError(f"{names.model} = {spec.model!r} is a file; name the model's folder.")
    if folder.is_dir():
        if not any((folder / name).is_file() for name in (METADATA_FILE, "config.json")):
            raise UserError(
                f"{names.model} = {spec.model!r}: the folder holds neither a rewardlab model "
                f"({METADATA_FILE}) nor a transformers model (config.json)."
            )
        return str(folder), None
    if is_local_path(spec.model):
        raise UserError(
            f"{names.model} = {spec.model!r}: no such folder{where(spec.model)}; a local "
            "reference is a folder holding config.json and *.safetensors."
        )
    resolved = resolve_pinned(spec.model, "model", names.model, spec.revision)
    return resolved.path, resolved.commit


def budget(spec: ReferenceParams, tokenizer: PreTrainedTokenizerBase, config: Any) -> int:
    """The reference's token budget: ``max_length`` when set, else its own limits, capped."""
    if spec.max_length is not None:
        return spec.max_length
    limits = [MAX_LENGTH_CAP, int(min(tokenizer.model_max_length, 1 << 40))]
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits)


def choose_input(spec: ReferenceParams, tokenizer: PreTrainedTokenizerBase, names: Names) -> str:
    """``auto`` decided for a model that is not a rewardlab folder; other modes checked."""
    has_template = tokenizer_chat_template(tokenizer) is not None
    if spec.input == "auto":
        return "chat_template" if has_template else "text_pair"
    if spec.input == "chat_template" and not has_template:
        raise UserError(
            f"{names.input} = 'chat_template': the tokenizer of {spec.model!r} has no chat "
            "template; use text_pair, or template with a role template."
        )
    return spec.input


def load_reference(spec: ReferenceParams, names: Names = FLAG_NAMES) -> Reference:
    """Load a reference model for scoring (eval mode; on the GPU when there is one)."""
    import torch

    path, commit = locate(spec, names)
    if (Path(path) / METADATA_FILE).is_file():  # a rewardlab folder: its own loader
        model, tokenizer, metadata = load_reward_model(path)
        mode = REWARDLAB if spec.input == "auto" else choose_input(spec, tokenizer, names)
        # Its contract's budget is the one it was trained with (the tokenizer's, in an export).
        trained = metadata["max_length"] if mode == REWARDLAB and not spec.max_length else None
        length = trained or budget(spec, tokenizer, model.config)
    else:
        model, tokenizer = _load_classifier(path, spec, names)
        mode, metadata = choose_input(spec, tokenizer, names), {}
        length = budget(spec, tokenizer, model.config)
    reference = Reference(model, tokenizer, mode, length, spec, commit, metadata)
    if torch.cuda.is_available():
        reference.model.to("cuda")
    reference.model.config.pad_token_id = reference.tokenizer.pad_token_id
    return reference


def _load_classifier(
    path: str, spec: ReferenceParams, names: Names
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A one-output ``AutoModelForSequenceClassification`` whose score head was trained."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    common = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(path, **common)
        kinds = config.architectures or []
        if config.num_labels != 1 and not any(
            k.endswith("ForSequenceClassification") for k in kinds
        ):
            raise UserError(
                f"{names.model} = {spec.model!r} is a {', '.join(kinds) or config.model_type}, "
                "not a sequence classifier: a reward model has one output (num_labels = 1)."
            )
        if config.num_labels != 1:
            raise UserError(
                f"{names.model} = {spec.model!r} has {config.num_labels} outputs "
                f"(num_labels = {config.num_labels}); a reward model has exactly one."
            )
        tokenizer = AutoTokenizer.from_pretrained(path, **common)
        with quiet_loading():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path, config=config, use_safetensors=True, output_loading_info=True, **common
            )
    except (OSError, ValueError) as exc:
        raise hub_error(spec.model, exc, names.model, names.remote_code) from None
    fresh = sorted({key.rsplit(".", 1)[0] for key in info["missing_keys"]})
    if fresh:
        raise UserError(
            f"{names.model} = {spec.model!r} is not a trained reward model: its checkpoint "
            f"lacks {', '.join(fresh)}, which would score at random. Name a sequence classifier "
            "saved with its score head."
        )
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UserError(f"{names.model} = {spec.model!r}: the tokenizer has no pad nor eos.")
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer
