"""Sources that hold nothing, and local paths that do not exist, are told plainly (issue 19).

Every kind of source prepare reads (.jsonl, .json, .csv, .parquet, a saved dataset, a folder in
the Hub's layout), empty in each way it can be, and local paths that are not there: prepare, an
``evaluate.sets`` entry and ``rewardlab score --input`` each end with exit 2 and one line that
names the path and what was found, never a traceback, never advice about the Hub for a local
path, never an output written.

The table runs in this process (the imports are paid once) and once more in a fresh
interpreter whose cases each run in a forked child with its own stderr file descriptor, so a
log line from a library, an exit status other than 2, or a traceback would show; a few cases
also run as the plain ``python -m rewardlab prepare`` a person types.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from datasets import Dataset, DatasetDict

from conftest import write_params
from rewardlab.cli import main as cli
from rewardlab.core.errors import UserError
from rewardlab.core.params import EvalSetParams
from rewardlab.evaluation.evalsets import load_evaluation_set, load_evaluation_sets

COLUMNS = ("prompt", "chosen", "rejected")
MISSING = "no such file or folder"
HOME = "home"  # each case's $HOME, under its folder, so "~/…" is somewhere known


def text(name: str, content: str) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return name

    return build


def zero_rows_parquet(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({c: pd.Series([], dtype="string") for c in COLUMNS}).to_parquet(path)


def parquet(name: str) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        zero_rows_parquet(folder / name)
        return name

    return build


def files(name: str, contents: dict[str, str]) -> Callable[[Path], str]:
    """A folder holding exactly ``contents`` (relative path → text); an empty dict: empty."""

    def build(folder: Path) -> str:
        (folder / name).mkdir()
        for relative, content in contents.items():
            text(f"{name}/{relative}", content)(folder)
        return name

    return build


def saved(name: str, as_dict: bool) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        empty = Dataset.from_dict({c: [] for c in COLUMNS})
        (DatasetDict({"train": empty}) if as_dict else empty).save_to_disk(folder / name)
        return name

    return build


def hub_layout_parquet(folder: Path) -> str:
    """A cloned Hub dataset repo: a card naming the split, and a data file of no rows."""
    zero_rows_parquet(folder / "repo/data/train-00000-of-00001.parquet")
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
    text("repo/README.md", card + "    path: data/train-*\n---\n# repo\n")(folder)
    return "repo"


def absent(source: str) -> Callable[[Path], str]:
    return lambda folder: source


CARD = "# pairs\n\nNo YAML header, as many a folder's README.\n"
# (id, how to build it in a case's folder → data.source as written, what the message says)
TABLE: list[tuple[str, Callable[[Path], str], str]] = [
    ("empty-jsonl", text("pairs.jsonl", ""), "is empty (0 bytes)"),
    ("blank-lines-jsonl", text("pairs.jsonl", "\n  \n\t\n\n"), "is empty (only blank lines)"),
    ("bom-and-newlines-jsonl", text("pairs.jsonl", "\ufeff\n\n"), "is empty (only blank lines)"),
    ("empty-json", text("pairs.json", ""), "is empty (0 bytes)"),
    ("empty-list-json", text("pairs.json", "[\n]\n"), "is empty (an empty JSON list)"),
    ("whitespace-json", text("pairs.json", "  \n"), "is empty (only blank lines)"),
    ("empty-csv", text("pairs.csv", ""), "is empty (0 bytes)"),
    ("blank-lines-csv", text("pairs.csv", "\n\n"), "is empty (only blank lines)"),
    (
        "header-only-csv",
        text("pairs.csv", "prompt,chosen,rejected\n"),
        "is empty (only a header row: prompt, chosen, rejected)",
    ),
    (
        "header-and-blank-lines-csv",
        text("pairs.csv", "prompt,chosen,rejected\n\n\n"),
        "is empty (only a header row: prompt, chosen, rejected)",
    ),
    ("zero-row-parquet", parquet("pairs.parquet"), "is empty (a Parquet file with 0 rows)"),
    ("empty-folder", files("pairs", {}), "is an empty folder"),
    ("only-hidden-files-folder", files("pairs", {".git/HEAD": "ref\n"}), "is an empty folder"),
    ("readme-only-folder", files("pairs", {"README.md": CARD}), "holds no data files"),
    (
        "no-data-files-folder",
        files("pairs", {"README.md": CARD, "LICENSE": "MIT\n", "NOTES.md": "n\n"}),
        "holds no data files (found only LICENSE, NOTES.md, README.md;",
    ),
    ("saved-dataset-0-rows", saved("saved", as_dict=False), "is empty (a saved dataset with 0"),
    (
        "saved-dataset-dict-0-rows",
        saved("saved", as_dict=True),
        "split 'train' is empty (a saved dataset with 0 rows)",
    ),
    (
        "hub-layout-empty-jsonl",
        files("repo", {"README.md": CARD, "data/train-00000-of-00001.jsonl": ""}),
        "is empty (its data files hold no rows: data/train-00000-of-00001.jsonl is empty (0",
    ),
    (
        "hub-layout-blank-train-jsonl",
        files("repo", {"train.jsonl": "\n\n", "test.jsonl": ""}),
        "is empty (its data files hold no rows: test.jsonl is empty (0 bytes); train.jsonl is",
    ),
    (
        "hub-layout-zero-row-parquet",
        hub_layout_parquet,
        "is empty (its data files hold no rows: data/train-00000-of-00001.parquet is empty (a "
        "Parquet file with 0 rows))",
    ),
    ("missing-data-raw-jsonl", absent("data/raw/pairs.jsonl"), MISSING),
    ("missing-dot-slash", absent("./pairs"), MISSING),
    ("missing-dot-dot-csv", absent("../pairs.csv"), MISSING),
    ("missing-nested-folder", absent("a/b/c"), MISSING),
    ("missing-file-no-folder", absent("pairs.parquet"), MISSING),
    ("missing-home", absent("~/pairs.jsonl"), MISSING),
]
IDS = [case[0] for case in TABLE]
FOUND = {name: found for name, _, found in TABLE}


def build_case(root: Path, case: tuple[str, Callable[[Path], str], str]) -> tuple[Path, str]:
    """The case's own folder (params.yaml, the source, a $HOME) and its data.source."""
    name, build, _ = case
    folder = root / name
    (folder / HOME).mkdir(parents=True)
    source = build(folder)
    write_params(folder, {"data": {"source": source}})
    return folder, source


def build_quietly(root: Path, case: tuple, capsys: pytest.CaptureFixture) -> tuple[Path, str]:
    """:func:`build_case`, its progress bars (save_to_disk's) kept out of the command's stderr."""
    built = build_case(root, case)
    capsys.readouterr()
    return built


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def score_expects(source: str, found: str) -> str:
    """What ``rewardlab score`` says of the source: it reads only .jsonl and .csv files."""
    if found == MISSING or source.endswith((".jsonl", ".csv")):
        return found
    return "is a folder" if "." not in Path(source).name else "use a .jsonl or .csv file"


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert "Traceback" not in err
    return lines[0]


def run_cli(folder: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("HOME", str(folder / HOME))
    with contextlib.chdir(folder):
        try:
            cli(args)
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("case", TABLE, ids=IDS)
def test_prepare_refuses_a_source_of_nothing_in_one_line(tmp_path, capsys, monkeypatch, case):
    folder, source = build_quietly(tmp_path, case, capsys)
    before = snapshot(folder)
    assert run_cli(folder, ["prepare"], monkeypatch) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"rewardlab: error: data.source = {source!r}: {case[2]}"), line
    assert "Hub" not in line.replace("a Hub dataset id", "")  # the path is local, not the Hub's
    assert not (folder / "data/prepared").exists()
    assert snapshot(folder) == before


@pytest.mark.parametrize("case", TABLE, ids=IDS)
def test_an_evaluation_set_of_nothing_names_its_key(tmp_path, monkeypatch, case):
    folder, source = build_case(tmp_path, case)
    before = snapshot(folder)
    monkeypatch.setenv("HOME", str(folder / HOME))
    monkeypatch.chdir(folder)
    with pytest.raises(UserError) as err:
        # The set is read before the tokenizer or the metadata are used.
        load_evaluation_set("mine", EvalSetParams(source=source), None, {}, False)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"evaluate.sets.mine.source = {source!r}: {case[2]}"), message
    assert "data.source" not in message
    assert snapshot(folder) == before


@pytest.mark.parametrize("case", TABLE, ids=IDS)
def test_score_refuses_an_input_of_nothing_and_writes_nothing(tmp_path, capsys, monkeypatch, case):
    folder, source = build_quietly(tmp_path, case, capsys)
    before = snapshot(folder)
    args = ["score", "--model", "never-loaded", "--input", source, "--output", "scored.jsonl"]
    assert run_cli(folder, args, monkeypatch) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"rewardlab: error: --input {Path(source)}: "), line
    assert score_expects(source, case[2]) in line, line
    assert snapshot(folder) == before  # no scored.jsonl, no temporary


def test_evaluate_reads_the_sets_through_the_same_checks(tmp_path, monkeypatch, tiny_gpt2):
    # As the evaluate stage calls it: with the trained model's metadata, tokenizer loaded.
    monkeypatch.chdir(tmp_path)
    text("empty.jsonl", "")(tmp_path)
    metadata = {"model": {"name_or_path": str(tiny_gpt2)}, "template": "{prompt}{response}"}
    for source, found in [("empty.jsonl", "is empty (0 bytes)"), ("data/eval/x.jsonl", MISSING)]:
        with pytest.raises(UserError) as err:
            load_evaluation_sets({"extra": EvalSetParams(source=source)}, metadata, False)
        assert str(err.value).startswith(f"evaluate.sets.extra.source = {source!r}: {found}")


# Runs in a fresh interpreter: the imports once, then each command in a forked child whose
# stdout and stderr are files, so whatever reaches file descriptor 2 is seen.
DRIVER = textwrap.dedent(
    """
    import json, os, sys, traceback
    from rewardlab.cli import main
    import rewardlab.stages.prepare, rewardlab.tools.score  # imported once, before the forks
    results = []
    for folder, args in json.loads(sys.argv[1]):
        err = os.path.join(folder, os.pardir, os.path.basename(folder) + ".stderr")
        pid = os.fork()
        if pid == 0:
            os.chdir(folder)
            os.environ["HOME"] = os.path.join(folder, "home")
            fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            code = 0
            try:
                main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        results.append([os.waitstatus_to_exitcode(status), open(err).read()])
        os.remove(err)
    print(json.dumps(results))
    """
)


def test_fresh_processes_exit_2_with_one_stderr_line_and_write_nothing(tmp_path):
    commands, befores = [], {}
    for case in TABLE:
        for command in ("prepare", "score"):
            folder, source = build_case(tmp_path / command, case)
            befores[folder] = snapshot(folder)
            args = ["prepare"]
            if command == "score":
                args = ["score", "--model", "m", "--input", source, "--output", "out.csv"]
            commands.append((str(folder), args, source, case[2]))
    plain = {}
    for name in ("missing-data-raw-jsonl", "empty-folder", "header-only-csv"):
        folder = tmp_path / "prepare" / name
        plain[name] = subprocess.Popen(
            [sys.executable, "-m", "rewardlab", "prepare"],
            cwd=folder,
            env={**os.environ, "HOME": str(folder / HOME)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    driver = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps([(f, a) for f, a, _, _ in commands])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert driver.returncode == 0, driver.stderr
    results = json.loads(driver.stdout.splitlines()[-1])
    for (folder, args, source, found), (code, err) in zip(commands, results, strict=True):
        assert code == 2, (folder, err)
        line = one_line(err)
        if args[0] == "prepare":
            assert line.startswith(f"rewardlab: error: data.source = {source!r}: {found}"), line
        else:
            assert score_expects(source, found) in line, line
        assert snapshot(Path(folder)) == befores[Path(folder)], folder
    for name, process in plain.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 2, (name, err)
        assert FOUND[name] in one_line(err)
