"""Atomic writes: an output either appears complete or not at all.

A stage that crashes half-way must not leave a file or folder that looks valid to the next stage
or to DVC, so everything is written to a hidden sibling ``.<name>.<pid>.<random>.tmp`` and moved
into place (``os.replace``, atomic on one filesystem) only when the block succeeds. An exception,
Ctrl-C or SIGTERM (see :func:`rewardlab.core.errors.run_main`) removes the sibling on the way out.

A SIGKILL or a power cut cannot run any clean-up, so a sibling may survive; it never has the
output's name, so nothing mistakes it for the output. The next write of the same output removes
siblings whose process is gone, which is why the pid is in the name. The guarantee is against the
process dying, not the machine: files are not fsynced, so after a power cut the newest output
may be incomplete (rerun the stage).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DIGITS = 6  # rounding keeps written figures stable across platforms' last-bit float noise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder that replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; outputs get the usual mode
    try:
        yield tmp
        usual_permissions(tmp)
        _move_into_place(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def usual_permissions(folder: Path) -> None:
    """Give every file under ``folder`` the mode a plain ``open()`` would (0644 under umask 022).

    Some writers create private files: safetensors 0.8 writes ``model.safetensors`` (and peft's
    ``adapter_model.safetensors``) with mode 0600 whatever the umask, so a model shared through a
    common folder or DVC cache could not be read by anyone else. Executable bits are kept.
    """
    mask = _umask()
    for file in folder.rglob("*"):
        if file.is_file() and not file.is_symlink():
            executable = file.stat().st_mode & 0o111
            os.chmod(file, (0o777 if executable else 0o666) & ~mask)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path that replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, name = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; outputs get the usual mode
    try:
        yield tmp
        _move_into_place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    """Write stable, diff-friendly JSON (sorted keys, trailing newline) atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the temporary siblings of ``path`` left by processes that no longer run."""
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f".{path.name}.*.tmp"):
        pid = candidate.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _move_into_place(tmp: Path, path: Path) -> None:
    """``os.replace``, except that a folder cannot be replaced in one call: move it aside first.

    The old folder is renamed to a temporary sibling, so at every instant ``path`` is either the
    old output, absent, or the new output, never a mix; the old one is deleted afterwards.
    """
    if not (tmp.is_dir() or path.is_dir()) or not (path.exists() or path.is_symlink()):
        os.replace(tmp, path)
        return
    trash = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    os.replace(path, trash / "old")
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(trash / "old", path)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)
