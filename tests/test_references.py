"""Reference reward models: each input mode gives the ids its model was trained on, ``auto``
picks the right one, unsafe or unsuitable models are refused, and ``rewardlab score``/``compare``
score any of them (model/references.py, tools/score.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from datasets import load_from_disk

from conftest import toy_pairs
from reference_models import (
    bert_reward_model,
    gpt2_reward_model,
    llama_reward_model,
    pickled_only,
)
from rewardlab.cli import main as cli
from rewardlab.core.errors import UserError
from rewardlab.core.params import ReferenceParams, load_params
from rewardlab.model.references import (
    MAX_LENGTH_CAP,
    REWARDLAB,
    load_reference,
    param_names,
    score_texts,
)
from rewardlab.tools.export import export
from test_hub import REFUSED, put_in_hub_cache

PROMPT, GOOD, BAD = "Tell me one fact about rain.", "Rain is water falling.", "I refuse."
CONVERSATION = [
    {"role": "user", "content": "Name a river."},
    {"role": "assistant", "content": "The Nile."},
    {"role": "user", "content": "Another one?"},
]
NAMES = param_names("evaluate.references.ref")


@pytest.fixture(scope="module")
def models(tiny_bert, tiny_gpt2, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("references")
    return {
        "bert": bert_reward_model(tiny_bert, folder / "bert"),
        "gpt2": gpt2_reward_model(tiny_gpt2, folder / "gpt2"),
        "llama": llama_reward_model(tiny_gpt2, folder / "llama"),
    }


def load(model: Path | str, **spec) -> object:
    return load_reference(ReferenceParams(model=str(model), **spec), NAMES)


def test_text_pair_feeds_prompt_and_response_as_a_tokenizer_pair(models):
    reference = load(models["bert"], input="text_pair")
    tokenizer = reference.tokenizer
    assert reference.encode([PROMPT], [GOOD]) == [tokenizer(PROMPT, GOOD)["input_ids"]]
    # [CLS] prompt [SEP] response [SEP], and BERT embeds the two segments: their ids go along.
    ids, types = reference.tokenize([PROMPT], [GOOD])
    assert ids[0].count(tokenizer.sep_token_id) == 2 and ids[0][0] == tokenizer.cls_token_id
    assert types == [tokenizer(PROMPT, GOOD)["token_type_ids"]] and 1 in types[0]
    # A multi-turn prompt is its transcript; a one-message prompt its text.
    transcript = "Human: Name a river.\n\nAssistant: The Nile.\n\nHuman: Another one?"
    assert reference.encode([CONVERSATION], [GOOD]) == [tokenizer(transcript, GOOD)["input_ids"]]
    one = [{"role": "user", "content": PROMPT}]
    assert reference.encode([one], [GOOD]) == reference.encode([PROMPT], [GOOD])


def test_chat_template_renders_the_conversation_through_the_tokenizers_template(models):
    reference = load(models["llama"], input="chat_template")
    tokenizer = reference.tokenizer
    for prompt in (PROMPT, CONVERSATION):
        turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        text = tokenizer.apply_chat_template(
            [*turns, {"role": "assistant", "content": GOOD}], tokenize=False
        )
        assert text.startswith("<|im_start|>user\n") and text.endswith(f"{GOOD}<|im_end|>\n")
        expected = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert reference.encode([prompt], [GOOD]) == [expected]


def test_an_hh_transcript_prompt_reaches_a_reference_as_its_turns(models):
    transcript = (
        "\n\nHuman: Name a river.\n\nAssistant: The Nile.\n\nHuman: Another one?\n\nAssistant:"
    )
    for model, mode in (("llama", "chat_template"), ("bert", "text_pair")):
        reference = load(models[model], input=mode)
        assert reference.encode([transcript], [" The Amazon."]) == reference.encode(
            [CONVERSATION], ["The Amazon."]
        )
    single = load(models["bert"]).encode(["\n\nHuman: " + PROMPT + "\n\nAssistant:"], [" " + GOOD])
    assert single == load(models["bert"]).encode([PROMPT], [GOOD])


def test_template_lays_the_pair_out_with_the_role_template(models):
    template = "Question: {prompt}\nAnswer: {response}"
    reference = load(models["gpt2"], input="template", template=template)
    expected = reference.tokenizer(f"Question: {PROMPT}\nAnswer: {GOOD}")["input_ids"]
    assert reference.encode([PROMPT], [GOOD]) == [expected]


def test_auto_picks_chat_template_else_text_pair_else_a_rewardlab_folders_contract(
    models, tiny_run, tmp_path
):
    assert load(models["llama"]).input == "chat_template"
    assert load(models["bert"]).input == "text_pair"
    assert load(models["gpt2"]).input == "text_pair"
    # The trained adapter folder reads its own contract: evaluate's token ids, exactly.
    reference = load(tiny_run / "models/reward_model")
    assert reference.input == REWARDLAB
    test = load_from_disk(str(tiny_run / "data/features"))["test"]
    assert reference.max_length == 48  # featurize.max_length of the run
    assert reference.encode(test["prompt"], test["chosen"]) == test["chosen_ids"]
    # So does an export of it, and its rewards are the trained model's.
    exported = tmp_path / "export"
    export(tiny_run / "models/reward_model", exported, metrics_file=None)
    reference = load(exported)
    assert reference.input == REWARDLAB
    scored = pd.read_json(tiny_run / "reports/scores.jsonl", lines=True)
    rewards = score_texts(reference, test["prompt"], test["chosen"])
    assert rewards == pytest.approx(scored["chosen_reward"].tolist(), abs=1e-4)


def test_the_budget_is_the_models_own_capped_or_max_length(models):
    reference = load(models["bert"])
    # The tiny BERT's tokenizer has no limit of its own (1e30): its 128 positions decide.
    assert reference.tokenizer.model_max_length > MAX_LENGTH_CAP
    assert reference.max_length == 128
    short = load(models["bert"], max_length=9)
    long_prompt = " ".join(["rain"] * 50)
    assert [len(ids) for ids in short.encode([long_prompt], [GOOD])] == [9]
    assert load(models["llama"]).max_length == 256


def test_scores_are_the_models_logits_on_those_ids(models):
    reference = load(models["bert"], batch_size=2)
    prompts, responses = [PROMPT] * 3, [GOOD, BAD, "Rain falls from clouds to the ground."]
    with torch.inference_mode():
        expected = [
            reference.model(**reference.tokenizer(p, r, return_tensors="pt")).logits[0, 0].item()
            for p, r in zip(prompts, responses, strict=True)
        ]
    assert score_texts(reference, prompts, responses) == pytest.approx(expected, abs=1e-5)


def test_more_than_one_output_is_refused_naming_the_label_count(tiny_bert, tmp_path):
    folder = bert_reward_model(tiny_bert, tmp_path / "two", num_labels=2)
    with pytest.raises(UserError, match=r"evaluate.references.ref.model = .* has 2 outputs"):
        load(folder)


def test_pickled_weights_and_untrusted_code_are_refused(models, tmp_path):
    folder = pickled_only(models["bert"], tmp_path / "pickled")
    with pytest.raises(UserError, match=r"only from \*\.safetensors files, never from pickled"):
        load(folder)
    custom = Path(shutil.copytree(models["bert"], tmp_path / "custom"))
    marker = tmp_path / "the-code-ran"
    config = json.loads((custom / "config.json").read_text())
    config["model_type"] = "custombert"
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForSequenceClassification": "modeling_custom.CustomModel",
    }
    (custom / "config.json").write_text(json.dumps(config))
    for module in ("configuration_custom", "modeling_custom"):
        (custom / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    remote = r"runs only with evaluate\.references\.ref\.trust_remote_code: true"
    with pytest.raises(UserError, match=remote):
        load(custom)
    assert not marker.exists()


def test_a_language_model_or_one_without_a_trained_score_head_is_refused(tiny_gpt2, tmp_path):
    with pytest.raises(UserError, match=r"is a GPT2LMHeadModel, not a sequence classifier"):
        load(tiny_gpt2)
    # Told it has one output, it would load with a fresh, random score head: refused too.
    headless = Path(shutil.copytree(tiny_gpt2, tmp_path / "headless"))
    config = json.loads((headless / "config.json").read_text())
    config.update(num_labels=1, id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0})
    (headless / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"not a trained reward model: its checkpoint lacks score"):
        load(headless)


def test_chat_template_without_one_and_bad_params_are_refused(models, tmp_path):
    with pytest.raises(UserError, match=r"evaluate\.references\.ref\.input = 'chat_template'"):
        load(models["bert"], input="chat_template")
    with pytest.raises(UserError, match="no such folder"):
        load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"neither a rewardlab model \(rewardlab.json\) nor"):
        load(tmp_path / "empty")
    with pytest.raises(ValueError, match="input: template needs a template"):
        ReferenceParams(model="x/y", input="template")
    with pytest.raises(ValueError, match="template is read only with input: template"):
        ReferenceParams(model="x/y", template="{prompt} {response}")
    with pytest.raises(ValueError, match=r"must contain \{response\}"):
        ReferenceParams(model="x/y", input="template", template="{prompt}")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{model: a/b, input: template}", "evaluate.references.r = {'model': 'a/b', 'input': "
         "'template'}: input: template needs a template"),
        ("{model: a/b, template: 'Q {prompt} A {response}'}",
         "template is read only with input: template (input is auto)"),
        ("{model: a/b, input: template, template: 'Q {prompt}'}", "must contain {response}"),
        ("{model: a/b, input: pairs}", "evaluate.references.r.input = 'pairs': expected one of"),
        ("{input: auto}", "evaluate.references.r.model: missing"),
        ("{model: a/b, trust_remote: true}", "evaluate.references.r.trust_remote: unknown key"),
    ],
)  # fmt: skip
def test_reference_params_are_checked_naming_the_key(tmp_path, entry, message):
    path = tmp_path / "params.yaml"
    path.write_text(f"evaluate:\n  references:\n    r: {entry}\n")
    with pytest.raises(UserError) as err:
        load_params(path)
    assert message in str(err.value)


def rewardlab(*args: str) -> int:
    try:
        cli(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_score_and_compare_take_a_reference_model(models, tmp_path, capsys):
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in toy_pairs(5)))
    output = tmp_path / "scored.jsonl"
    template = ("--model-input", "template", "--template", "Q: {prompt} A: {response}")
    args = ("--input", str(source), "--output", str(output))
    assert rewardlab("score", "--model", str(models["gpt2"]), *template, *args) == 0
    scored = pd.read_json(output, lines=True)
    reference = load(models["gpt2"], input="template", template="Q: {prompt} A: {response}")
    expected = score_texts(reference, scored["prompt"].tolist(), scored["chosen"].tolist())
    assert scored["chosen_reward"].to_numpy() == pytest.approx(np.round(expected, 6), abs=1e-6)
    capsys.readouterr()
    status = rewardlab("compare", "--model", str(models["llama"]), "--prompt", PROMPT, GOOD, BAD)
    assert status == 0
    printed = capsys.readouterr().out.splitlines()
    chat = load(models["llama"])
    reward_a, reward_b = score_texts(chat, [PROMPT] * 2, [GOOD, BAD])
    assert printed[0] == f"reward A: {reward_a:+.4f}" and printed[1] == f"reward B: {reward_b:+.4f}"
    # The mode flag is checked like the param, in one line.
    assert rewardlab("compare", "--model", str(models["bert"]), "--model-input", "template",
                     "--prompt", PROMPT, GOOD, BAD) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"--model {models['bert']}: input: template needs a template" in err


def test_score_takes_lists_of_completions_with_a_reference_model(models, tmp_path, capsys):
    """RewardBench 2's rows (chosen/rejected lists) and a responses list, scored by a BERT
    classifier read as text pairs: one reward per completion, as scoring each pair alone."""
    from rewardlab.evaluation.stats import top_credit

    answers = [GOOD, BAD, "Rain is wet.", "No."]
    rows = [
        {"id": "a", "prompt": PROMPT, "chosen": answers[:1], "rejected": answers[1:]},
        {"id": "b", "prompt": "Name a river.", "chosen": ["The Nile.", "The Amazon."],
         "rejected": ["A mountain."]},
    ]  # fmt: skip
    source, output = tmp_path / "bon.jsonl", tmp_path / "scored.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    flags = ("--model", str(models["bert"]), "--model-input", "text_pair", "--output", str(output))
    assert rewardlab("score", "--input", str(source), *flags) == 0
    scored = [json.loads(line) for line in output.read_text().splitlines()]
    reference = load(models["bert"], input="text_pair")
    near = {"abs": 2e-6}  # other batch neighbours than one call per row: float noise only
    credit = []
    for row, out in zip(rows, scored, strict=True):
        completions = row["chosen"] + row["rejected"]
        alone = score_texts(reference, [row["prompt"]] * len(completions), completions)
        k = len(row["chosen"])
        assert out["chosen_rewards"] == pytest.approx(alone[:k], **near)
        assert out["rejected_rewards"] == pytest.approx(alone[k:], **near)
        assert out["id"] == row["id"]
        credit.append(top_credit(out["chosen_rewards"] + out["rejected_rewards"], k))
    assert f"score: 2 prompts, best-of-N accuracy {sum(credit) / 2:.3f}" in capsys.readouterr().out
    # A plain list of responses: `rewards`, in the list's order.
    source.write_text(json.dumps({"prompt": PROMPT, "responses": answers}) + "\n")
    assert rewardlab("score", "--input", str(source), *flags) == 0
    (listed,) = [json.loads(line) for line in output.read_text().splitlines()]
    expected = score_texts(reference, [PROMPT] * 4, answers)
    assert listed["rewards"] == pytest.approx(np.round(expected, 6), **near)


def test_a_hub_id_loads_from_the_cache_offline_and_an_uncached_one_fails_naming_it(
    models, tmp_path
):
    hf_home = tmp_path / "hf"
    put_in_hub_cache(hf_home, "model", "tests/tiny-bert-rm", models["bert"])
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_ENDPOINT": REFUSED, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "rewardlab", "compare", "--prompt", PROMPT, GOOD, BAD]
    found = subprocess.run([*command, "--model", "tests/tiny-bert-rm"], env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert found.returncode == 0, found.stderr
    reward_a, reward_b = score_texts(load(models["bert"]), [PROMPT] * 2, [GOOD, BAD])
    assert found.stdout.splitlines()[:2] == [
        f"reward A: {reward_a:+.4f}",
        f"reward B: {reward_b:+.4f}",
    ]
    missing = subprocess.run([*command, "--model", "tests/no-such-rm"], env=env,
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2
    assert "--model = 'tests/no-such-rm'" in missing.stderr and "local cache" in missing.stderr
    assert "Traceback" not in missing.stderr
