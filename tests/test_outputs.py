"""Atomic outputs: complete or absent, never half-written; temporaries never outlive their use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rewardlab.core.outputs import atomic_dir, atomic_file, remove_stale_temporaries, write_json


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_a_folder_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert temporaries(tmp_path) == []


def test_a_failure_keeps_the_previous_folder_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("crash half-way")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert temporaries(tmp_path) == []


def test_a_new_folder_replaces_the_old_one_entirely(tmp_path):
    target = tmp_path / "out"
    for name in ("first.txt", "second.txt"):
        with atomic_dir(target) as tmp:
            (tmp / name).write_text(name)
    assert sorted(p.name for p in target.iterdir()) == ["second.txt"]
    assert temporaries(tmp_path) == []


def test_a_file_keeps_its_old_content_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as tmp:
        tmp.write_text('{"a": ')
        raise KeyboardInterrupt
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert temporaries(tmp_path) == []


def test_a_folder_may_replace_a_file_and_a_file_a_folder(tmp_path):
    target = tmp_path / "out"
    target.write_text("file")
    with atomic_dir(target) as tmp:
        (tmp / "x").write_text("x")
    assert target.is_dir()
    with atomic_file(target) as tmp:
        tmp.write_text("file again")
    assert target.read_text() == "file again"
    assert temporaries(tmp_path) == []


def test_outputs_get_the_usual_permissions_not_the_temporaries_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "folder"):
            pass
        write_json(tmp_path / "file.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "file.json").stat().st_mode & 0o777 == 0o644


def test_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = dead_pid()
    (tmp_path / f".out.{dead}.abc.tmp").mkdir()  # what a SIGKILL leaves behind
    (tmp_path / f".out.{dead}.def.tmp").write_text("half")
    (tmp_path / f".out.{os.getpid()}.ghi.tmp").mkdir()  # a writer still at work
    (tmp_path / f".other.{dead}.jkl.tmp").mkdir()  # another output's: not ours to judge
    removed = remove_stale_temporaries(tmp_path / "out")
    assert sorted(p.name for p in removed) == [
        f".out.{dead}.abc.tmp",
        f".out.{dead}.def.tmp",
    ]
    assert temporaries(tmp_path) == [f".other.{dead}.jkl.tmp", f".out.{os.getpid()}.ghi.tmp"]


def test_writing_an_output_clears_its_stale_temporaries(tmp_path):
    (tmp_path / f".out.{dead_pid()}.abc.tmp").mkdir()
    with atomic_dir(tmp_path / "out"):
        pass
    assert temporaries(tmp_path) == []
