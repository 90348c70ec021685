"""The train stage under `accelerate launch`: two CPU processes (gloo), outputs written once."""

import contextlib
import json
from pathlib import Path

import pytest

from conftest import toy_pairs, write_jsonl, write_params
from rewardlab.core import devices
from rewardlab.core.params import Params, TrainParams
from rewardlab.model import training
from rewardlab.stages import evaluate, featurize, prepare, train
from rewardlab.stages.train import accelerate_command


@pytest.mark.parametrize(
    ("requested", "native", "expected"),
    [
        ("auto", True, "bf16"),
        ("auto", False, "fp32"),
        ("fp32", True, "fp32"),
        ("bf16", False, "bf16"),
    ],
)
def test_auto_precision_is_bf16_only_where_the_hardware_has_it(
    requested, native, expected, monkeypatch
):
    monkeypatch.setattr(devices, "native_bf16", lambda: native)
    params = Params(train=TrainParams(launcher="accelerate", mixed_precision=requested))
    assert training.precision(params) == expected
    command = accelerate_command(params, [])
    assert command[command.index("--mixed_precision") + 1] == {"fp32": "no"}.get(expected, expected)
    config = training.reward_config(params, Path("unused"))
    assert (config.bf16, config.fp16) == (expected == "bf16", False)


def test_the_launch_command_follows_the_params():
    params = Params(
        train=TrainParams(launcher="accelerate", num_processes=2, mixed_precision="fp32")
    )
    command = accelerate_command(params, ["--params", "p.yaml"])
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "2"
    assert command[command.index("--mixed_precision") + 1] == "no"
    assert "--multi_gpu" in command  # torchrun: on a machine without CUDA, CPU processes
    assert command[-4:] == ["-m", "rewardlab.stages.train", "--params", "p.yaml"]
    with_file = Params(train=TrainParams(launcher="accelerate", accelerate_config="ds.yaml"))
    assert "--num_processes" not in accelerate_command(with_file, [])
    assert accelerate_command(with_file, [])[3:5] == ["--config_file", "ds.yaml"]


def test_two_cpu_processes_train_and_write_the_outputs_once(tiny_gpt2, tmp_path, capfd):
    write_params(
        tmp_path,
        {
            "data": {"source": str(write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(40)))},
            "model": {"name_or_path": str(tiny_gpt2)},
            "train": {
                "launcher": "accelerate",
                "num_processes": 2,
                "max_steps": 4,
                "per_device_train_batch_size": 2,
                "logging_steps": 1,
                "eval_steps": 2,
            },
        },
    )
    # Only the training needs processes of its own: the stages, and train's launcher (its
    # `main` hands over to `accelerate launch` and waits), run here, saving four imports.
    with contextlib.chdir(tmp_path):
        for stage in (prepare, featurize):
            stage.main(["--params", "params.yaml"])
        capfd.readouterr()
        with pytest.raises(SystemExit) as launched:
            train.main(["--params", "params.yaml"])
        out, err = capfd.readouterr()  # the launched processes' output too (same descriptors)
        assert launched.value.code == 0, f"{out}\n{err}"
        assert out.count("train: saved models/reward_model after 4 steps") == 1
        evaluate.main(["--params", "params.yaml"])

    model_dir = tmp_path / "models/reward_model"
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "chat_template.jinja",  # the tokenization contract (rewardlab.model.contract)
        "rewardlab.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert json.loads((model_dir / "rewardlab.json").read_text())["train"]["num_processes"] == 2
    loss = (tmp_path / "reports/train/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in loss[1:]] == ["1", "2", "3", "4"]  # each step once
    leftovers = [p.name for p in tmp_path.rglob(".*.tmp")]
    assert leftovers == []
    metrics = json.loads((tmp_path / "reports/metrics.json").read_text())
    assert metrics["pairs"] == 8 and 0.0 <= metrics["win_rate"] <= 1.0
