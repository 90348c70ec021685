"""Stage 0, fingerprint: what the local inputs named in params hold, as content hashes.

``data.source`` and every ``evaluate.sets`` source are params, and may be files or folders
anywhere on disk, or Hub ids. DVC tracks only the paths written in ``dvc.yaml``, so on its own it
would not notice a row edited in such a file. This stage runs on every ``dvc repro``
(``always_changed``; it reads only small JSON and hashes files, no torch or datasets) and writes
two small files: the training source's fingerprint, a dependency of prepare, and the evaluation
sets' fingerprints, a dependency of evaluate (and of references). DVC compares them with the last
run's, so editing the training source reruns prepare and all that follows; editing an evaluation
set reruns only references and evaluate; and when nothing changed, nothing after this stage runs.
A third file fingerprints the ``evaluate.references`` models the same way (a local folder by its
files' bytes: re-exporting a reference into the same folder rescores it; hashing reads about a
gigabyte a second), a dependency of the references stage.

A Hub source is fingerprinted by its id and the ``revision`` param (prepare records the commit
it resolved to). A builtin source has no file: its code is already a dependency of prepare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardlab.core.errors import run_main
from rewardlab.core.outputs import write_json
from rewardlab.core.params import params_from_argv
from rewardlab.core.paths import EVAL_SETS_FINGERPRINT, REFERENCES_FINGERPRINT, SOURCE_FINGERPRINT

CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` that a loader could read, skipping hidden entries (``.git``,
    caches): a cloned Hub dataset's git history is not its data."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def fingerprint(source: str, revision: str | None = None) -> dict[str, Any]:
    """What identifies the data behind ``source``: its bytes when it is local, else its id."""
    if source == "builtin":
        return {"source": source, "kind": "builtin"}
    path = Path(source).expanduser()
    if path.is_file():
        return {"source": source, "kind": "file", "sha256": file_digest(path)}
    if path.is_dir():
        files = {
            file.relative_to(path).as_posix(): file_digest(file) for file in folder_files(path)
        }
        return {"source": source, "kind": "folder", "files": files}
    # Not on disk: a Hub id (loading says so clearly if it is neither).
    return {"source": source, "kind": "hub", "revision": revision}


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    write_json(SOURCE_FINGERPRINT, fingerprint(params.data.source, params.data.revision))
    sets = {
        name: fingerprint(spec.source, spec.revision) for name, spec in params.evaluate.sets.items()
    }
    write_json(EVAL_SETS_FINGERPRINT, sets)
    references = {
        name: fingerprint(spec.model, spec.revision)
        for name, spec in params.evaluate.references.items()
    }
    write_json(REFERENCES_FINGERPRINT, references)
    print(
        f"fingerprint: training source {params.data.source!r}, {len(sets)} evaluation set(s), "
        f"{len(references)} reference model(s)"
    )


if __name__ == "__main__":
    run_main(main)
