"""``rewardlab diff`` across commits, tags, the workspace and ``dvc exp run`` experiments.

A tiny git + DVC repository whose one stage writes ``reports/pairs/`` as evaluate does (a cached
output), from params that say which pairs each run wins: so every figure is known by hand, and
an experiment costs a second instead of a training run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from dvc_repo import dvc, run
from rewardlab.evaluation.comparison import mcnemar_exact

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
PAIRS = 60
# Stands in for evaluate: 60 pairs of `test` (A wins the even ones, categories x and y by
# halves) and 30 of `extra`; `flip` even pairs become ties (ties lose), `gain` odd ones wins.
MAKE_PAIRS = f"""
import hashlib, json, pathlib, yaml
params = yaml.safe_load(open("params.yaml"))
folder = pathlib.Path("reports/pairs")
folder.mkdir(parents=True, exist_ok=True)
def pid(i, name):
    text = json.dumps([f"{{name}} prompt {{i}}", "good", "bad"], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
for name, n in (("test", {PAIRS}), ("extra", 30)):
    evens = [i for i in range(n) if i % 2 == 0][: params["flip"]]
    odds = [i for i in range(n) if i % 2 == 1][: params["gain"]]
    with open(folder / f"{{name}}.jsonl", "w") as out:
        for i in range(n):
            won = (i % 2 == 0 and i not in evens) or i in odds
            row = {{"id": pid(i, name), "chosen_reward": 1.0 if won else 0.25,
                   "rejected_reward": 0.25, "category": "x" if i < n // 2 else "y"}}
            out.write(json.dumps(row, sort_keys=True) + "\\n")
# A best-of-N set of 40 prompts, one line per prompt as evaluate writes it: even prompts right
# (credit 1), odd ones tied at the top with a wrong completion (1/2); `flip` even ones lost,
# `gain` odd ones made right.
lost = [i for i in range(40) if i % 2 == 0][: params["flip"]]
gained = [i for i in range(40) if i % 2 == 1][: params["gain"]]
with open(folder / "bon.jsonl", "w") as out:
    for i in range(40):
        right = i not in lost and (i % 2 == 0 or i in gained)
        rewards = [0.0, 1.0] if i in lost else [1.0, 0.0] if right else [1.0, 1.0]
        credit = 1.0 if right else 0.0 if i in lost else 0.5
        row = {{"id": pid(i, "bon"), "rewards": rewards + [0.0, 0.0], "num_correct": 1,
               "credit": credit, "category": "x"}}
        out.write(json.dumps(row, sort_keys=True) + "\\n")
"""
DVC_YAML = {
    "stages": {
        "evaluate": {
            "cmd": f"{sys.executable} make_pairs.py",
            "deps": ["make_pairs.py"],
            "params": ["flip", "gain"],
            "outs": ["reports/pairs"],
        }
    }
}


def diff(repo: Path, *args: str, check: bool = True):
    return run(repo, sys.executable, "-m", "rewardlab", "diff", *args, check=check)


def diff_json(repo: Path, a: str, b: str) -> dict:
    return json.loads(diff(repo, a, b, "--json").stdout)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Commit 1 (tag ``before``): no per-pair scores. Commit 2 (``main``): the baseline run.
    Experiment ``flipped``: 10 of A's wins lost and 3 of its losses won on ``test``."""
    repo = tmp_path_factory.mktemp("diff-repo")
    run(repo, "git", "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    (repo / "README").write_text("tiny\n")
    run(repo, *GIT, "add", "-A")
    run(repo, *GIT, "commit", "-qm", "before pairs")
    run(repo, "git", "tag", "before")
    (repo / "make_pairs.py").write_text(MAKE_PAIRS)
    (repo / "params.yaml").write_text(yaml.safe_dump({"flip": 0, "gain": 0}))
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    dvc(repo, "repro", "-q")
    run(repo, *GIT, "add", "-A")
    run(repo, *GIT, "commit", "-qm", "baseline")
    dvc(repo, "exp", "run", "--temp", "-q", "-n", "flipped", "-S", "flip=10", "-S", "gain=3")
    return repo


def test_a_run_against_itself_differs_by_nothing(repo):
    result = diff_json(repo, "HEAD", "main")
    assert result["a"]["commit"] == result["b"]["commit"]
    for name, pairs in (("test", PAIRS), ("extra", 30)):
        block = result["sets"][name]
        assert block["pairs"] == pairs
        assert block["difference"] == 0.0
        assert block["p_value"] == 1.0
        assert block["difference_ci95"] == {"low": 0.0, "high": 0.0}
        assert block["a_win_rate"] == block["b_win_rate"] == 0.5
        # Categories of 30 pairs are compared; those of extra (15 each) are too small.
        expected = {1.0} if name == "test" else {None}
        assert {c["p_value"] for c in block["by_category"].values()} == expected
    # The workspace holds the same run's outputs.
    assert diff_json(repo, "HEAD", "workspace")["sets"]["test"]["difference"] == 0.0


def test_an_experiment_by_name_gives_the_known_discordant_pairs(repo):
    result = diff_json(repo, "main", "flipped")
    block = result["sets"]["test"]
    assert set(block) >= {
        "pairs",
        "a_win_rate",
        "b_win_rate",
        "difference",
        "difference_ci95",
        "p_value",
        "by_category",
        "detectable_difference",
        "verdict",
    }
    assert block["pairs"] == PAIRS
    assert block["discordant"] == {"a_only": 10, "b_only": 3}
    assert block["a_win_rate"] == 0.5
    assert block["b_win_rate"] == pytest.approx((30 - 10 + 3) / 60, abs=1e-6)
    assert block["difference"] == pytest.approx(-7 / 60, abs=1e-6)
    assert block["p_value"] == pytest.approx(mcnemar_exact(10, 3), abs=1e-6)
    assert block["p_value"] == pytest.approx(2 * (1 + 13 + 78 + 286) / 2**13, abs=1e-6)
    ci = block["difference_ci95"]
    assert ci["low"] < -7 / 60 < ci["high"]
    # The 10 flipped even pairs are the first ten: all in category x (pairs 0-29); the 3 gained
    # odd ones too. y is untouched.
    x, y = block["by_category"]["x"], block["by_category"]["y"]
    assert x["discordant"] == {"a_only": 10, "b_only": 3}
    assert y["difference"] == 0.0
    assert x["p_value"] == pytest.approx(min(1.0, 2 * x["p_value_unadjusted"]), abs=1e-6)
    # extra (30 pairs): 10 flipped of its 15 even pairs, 3 gained.
    assert result["sets"]["extra"]["discordant"] == {"a_only": 10, "b_only": 3}
    # The experiment resolves to its commit under refs/exps.
    ref = run(repo, "git", "for-each-ref", "--format=%(objectname)", "refs/exps").stdout.split()
    assert result["b"]["commit"] in ref


def test_a_best_of_n_set_is_compared_over_prompts_on_credit_and_full_credit(repo):
    """Rates, difference and CI on the credit (ties at the top share it); McNemar on the prompts
    with full credit: 10 of A's right prompts lost, 3 of its half-credit ones made right."""
    block = diff_json(repo, "main", "flipped")["sets"]["bon"]
    assert block["pairs"] == 40
    assert block["a_win_rate"] == 0.75
    assert block["b_win_rate"] == pytest.approx((10 + 3 + 17 / 2) / 40, abs=1e-6)
    assert block["difference"] == pytest.approx(-0.2125, abs=1e-6)
    assert block["discordant"] == {"a_only": 10, "b_only": 3}
    assert block["p_value"] == pytest.approx(mcnemar_exact(10, 3), abs=1e-6)
    ci = block["difference_ci95"]
    assert ci["low"] < -0.2125 < ci["high"] < 0
    assert block["by_category"]["x"]["pairs"] == 40
    same = diff_json(repo, "HEAD", "main")["sets"]["bon"]
    assert (same["difference"], same["a_win_rate"]) == (0.0, 0.75)
    lines = diff(repo, "main", "flipped").stdout.splitlines()
    assert any(line.startswith("bon: B - A = -0.212 (95% CI ") for line in lines)


def test_the_text_output_has_one_verdict_line_per_set(repo):
    out = diff(repo, "main", "flipped").stdout
    lines = out.splitlines()
    assert lines[0].startswith("A = main (")
    test_line = next(line for line in lines if line.startswith("test: "))
    assert "B - A = -0.117 (95% CI " in test_line
    assert "p = 0.092 over 60 pairs; no detectable difference (could detect >= " in test_line
    assert "[win rate A 0.500, B 0.383]" in test_line
    assert any(line.startswith("extra: ") for line in lines)
    assert "  by category (Holm-corrected p):" in lines


def test_the_workspace_matches_by_content_across_reordered_and_partly_different_files(
    repo, tmp_path
):
    pairs = repo / "reports/pairs"
    saved = {path.name: path.read_text() for path in pairs.iterdir()}
    try:
        rows = [json.loads(line) for line in saved["test.jsonl"].splitlines()]
        # Reversed, 5 pairs gone, 2 new, and the first even pair lost.
        kept = rows[5:]
        kept[1 if kept[0]["chosen_reward"] < 1 else 0]["chosen_reward"] = 0.25
        new = [dict(rows[0], id=f"{i:016x}") for i in range(2)]
        (pairs / "test.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in [*kept[::-1], *new])
        )
        (pairs / "extra.jsonl").write_text(
            "".join(f"{line}\n" for line in saved["extra.jsonl"].splitlines()[:5])
        )
        result = diff_json(repo, "HEAD", "workspace")
        block = result["sets"]["test"]
        assert block["pairs"] == PAIRS - 5
        assert (block["only_in_a"], block["only_in_b"]) == (5, 2)
        assert block["discordant"] == {"a_only": 1, "b_only": 0}
        extra = result["sets"]["extra"]
        assert extra["comparable"] is False
        assert extra["p_value"] is None
        assert extra["verdict"] == "not comparable: 5 shared pairs (at least 20 needed)"
    finally:
        for name, text in saved.items():
            (pairs / name).write_text(text)


def test_unknown_revisions_and_revisions_without_pairs_are_one_line_errors(repo):
    for rev, message in (
        ("no-such-branch", "unknown revision 'no-such-branch'"),
        ("before", "has no reports/pairs/"),
    ):
        result = diff(repo, rev, "HEAD", check=False)
        assert result.returncode == 2
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_evaluate_writes_every_scored_sets_pairs_with_content_ids(tiny_run):
    """The real evaluate stage (tiny GPT-2 run): one file per scored set, the headline split's
    rewards those of scores.jsonl, each id the hash of the pair's prompt, chosen and rejected."""
    from datasets import load_from_disk

    from rewardlab.evaluation.pair_scores import pair_id

    metrics = json.loads((tiny_run / "reports/metrics.json").read_text())
    metrics.setdefault("sets", {})  # this run scores its test split only
    folder = tiny_run / "reports/pairs"
    assert sorted(p.stem for p in folder.glob("*.jsonl")) == sorted(["test", *metrics["sets"]])
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
    scores = [
        json.loads(line) for line in (tiny_run / "reports/scores.jsonl").read_text().splitlines()
    ]
    assert [(r["chosen_reward"], r["rejected_reward"]) for r in rows] == [
        (s["chosen_reward"], s["rejected_reward"]) for s in scores
    ]
    test = load_from_disk(str(tiny_run / "data/features"))["test"]
    assert [r["id"] for r in rows] == [
        pair_id(p, c, r)
        for p, c, r in zip(test["prompt"], test["chosen"], test["rejected"], strict=True)
    ]
    for name, block in metrics["sets"].items():
        lines = (folder / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == block["pairs"]
        assert len({json.loads(line)["id"] for line in lines}) == len(lines)
