"""Safe loading: weights only from safetensors, a model's own code only when trusted, no pickles."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO_ROOT
from rewardlab.core.errors import UserError
from rewardlab.core.params import ModelParams
from rewardlab.model.loading import load_base_model, load_reward_model, load_tokenizer


def test_a_base_model_with_only_pickled_weights_is_refused(tiny_gpt2, tmp_path):
    folder = Path(shutil.copytree(tiny_gpt2, tmp_path / "pickled"))
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    params = ModelParams(name_or_path=str(folder))
    with pytest.raises(UserError, match=r"only from \*\.safetensors files, never from pickled"):
        load_base_model(params, load_tokenizer(params))


def test_a_reward_model_with_a_pickled_adapter_is_refused(tmp_path):
    (tmp_path / "rewardlab.json").write_text(json.dumps({"model": {}}))
    (tmp_path / "adapter_model.bin").write_bytes(b"a pickle would be here")
    with pytest.raises(UserError, match="adapter weights only from safetensors"):
        load_reward_model(tmp_path)


def test_a_models_own_code_never_runs_unless_trusted(tiny_gpt2, tmp_path):
    folder = Path(shutil.copytree(tiny_gpt2, tmp_path / "custom"))
    marker = tmp_path / "the-code-ran"
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "customgpt"
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForSequenceClassification": "modeling_custom.CustomModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    for module in ("configuration_custom", "modeling_custom"):
        (folder / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    params = ModelParams(name_or_path=str(folder))  # trust_remote_code: false, the default
    with pytest.raises(UserError, match=r"runs only with model.trust_remote_code: true"):
        load_base_model(params, load_tokenizer(params))
    assert not marker.exists()


def test_no_module_unpickles_or_trusts_remote_code_on_its_own():
    """Source check: loading goes through safetensors and JSON; remote code follows the param."""
    for module in sorted((REPO_ROOT / "src/rewardlab").rglob("*.py")):
        source = module.read_text()
        unpicklers = r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|cloudpickle)\b"
        assert not re.search(unpicklers, source, flags=re.M), module.name
        for call in re.findall(r"torch\.load\([^)]*\)", source):
            assert "weights_only=True" in call, f"{module.name}: {call}"
        assert "trust_remote_code=True" not in source, module.name
