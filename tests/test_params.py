import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from rewardlab.core.errors import UserError
from rewardlab.core.params import Params, load_params


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
        ("featurize:\n  template: 'no fields'\n", "featurize.template = 'no fields'"),
        (
            "data:\n  columns:\n    score_chosen: a\n",
            "data.columns = {'score_chosen': 'a'}: name both score_chosen and score_rejected",
        ),
        ("prepare:\n  template: x\n", "prepare.template moved to featurize.template"),
    ],
)
def test_a_bad_value_names_the_key_and_the_value(tmp_path, text, key):
    with pytest.raises(UserError, match=re.escape(key)):
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


def test_each_bad_key_gets_exactly_one_line_saying_what_is_allowed(tmp_path):
    text = (
        "lora:\n  target_modules: 5\n  r: 0\n"
        "prepare:\n  test_size: 1.5\n"
        "train:\n  learning_rate: -1\n  center_rewards_coefficient: -2\n"
    )
    with pytest.raises(UserError) as err:
        load_params(write(tmp_path, text))
    lines = str(err.value).splitlines()[1:]
    assert sorted(line.strip() for line in lines) == [
        "lora.r = 0: expected an integer >= 1",
        "lora.target_modules = 5: expected 'auto' or a list of strings",
        "prepare.test_size = 1.5: expected a number > 0 and < 1",
        "train.center_rewards_coefficient = -2: expected null or a number >= 0",
        "train.learning_rate = -1: expected a number > 0",
    ]


def test_a_typo_suggests_the_closest_key_and_shows_its_value(tmp_path):
    with pytest.raises(UserError, match=r"did you mean 'learning_rate'\?") as err:
        load_params(write(tmp_path, "train:\n  learnig_rate: 0.1\n"))
    assert "(value 0.1)" in str(err.value)


def test_an_unknown_scheduler_is_caught_before_any_work(tmp_path):
    with pytest.raises(UserError, match=r"train.lr_scheduler_type = 'linaer': expected one of"):
        load_params(write(tmp_path, "train:\n  lr_scheduler_type: linaer\n"))


def test_a_bare_yaml_no_is_explained(tmp_path):
    with pytest.raises(UserError, match="quote it"):
        load_params(write(tmp_path, "train:\n  mixed_precision: no\n"))


def test_a_section_with_every_key_commented_out_means_defaults(tmp_path):
    assert load_params(write(tmp_path, "train:\n#  seed: 1\n")) == Params()


def test_a_bad_params_file_exits_2_with_the_message_and_no_traceback(tmp_path):
    write(tmp_path, "prepare:\n  test_size: 0\n")
    # The stage every `dvc repro` runs first, so where a user meets a bad params file (and the
    # one that imports no torch: a second here, ten for prepare).
    result = subprocess.run(
        [sys.executable, "-m", "rewardlab", "fingerprint"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "prepare.test_size = 0: expected a number > 0 and < 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()
