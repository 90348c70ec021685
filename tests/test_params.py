from pathlib import Path

import pytest

from conftest import REPO_ROOT
from rewardlab.errors import UserError
from rewardlab.params import Params, load_params


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_repository_params_are_valid_and_match_the_code_defaults():
    assert load_params(REPO_ROOT / "params.yaml") == Params()


def test_a_typo_names_the_key_and_what_is_allowed(tmp_path):
    with pytest.raises(UserError) as err:
        load_params(write(tmp_path, "train:\n  learnig_rate: 0.1\n"))
    message = str(err.value)
    assert "train.learnig_rate: unknown key" in message
    assert "learning_rate" in message


def test_an_unknown_section_is_rejected(tmp_path):
    with pytest.raises(UserError, match="trian: unknown key"):
        load_params(write(tmp_path, "trian:\n  seed: 1\n"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("train:\n  learning_rate: -0.1\n", "train.learning_rate = -0.1"),
        ("prepare:\n  test_size: 1.5\n", "prepare.test_size = 1.5"),
        ("lora:\n  r: 0\n", "lora.r = 0"),
        ("featurize:\n  overflow: chop\n", "featurize.overflow = 'chop'"),
        (
            "train:\n  per_device_train_batch_size: many\n",
            "train.per_device_train_batch_size = 'many'",
        ),
        ("prepare:\n  template: 'no fields'\n", "prepare.template = 'no fields'"),
    ],
)
def test_a_bad_value_names_the_key_and_the_value(tmp_path, text, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.").replace("(", r"\(")):
        load_params(write(tmp_path, text))


def test_a_missing_section_takes_the_defaults(tmp_path):
    params = load_params(write(tmp_path, "train:\n  seed: 7\n"))
    assert params.train.seed == 7
    assert params.lora.r == 8


def test_lora_targets_accept_auto_or_a_list(tmp_path):
    params = load_params(write(tmp_path, "lora:\n  target_modules: [q_proj, v_proj]\n"))
    assert params.lora.target_modules == ["q_proj", "v_proj"]


def test_invalid_yaml_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(write(tmp_path, "train: [unclosed\n"))
