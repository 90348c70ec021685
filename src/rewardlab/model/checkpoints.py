"""Which checkpoint a train run may continue from: only one made by the same params, features,
code and library versions, so a resumed run ends where an uninterrupted one would."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from rewardlab.core.outputs import write_json
from rewardlab.core.params import Params
from rewardlab.core.paths import CHECKPOINT_DIR, FEATURES_DIR

RUN_FILE = "run.json"  # which run the checkpoints beside it belong to


LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate")


def run_fingerprint(params: Params, code_files: Sequence[str | Path]) -> dict:
    """What a checkpoint must share with this run to be resumed from; ``code_files`` are the
    modules whose edits make an old checkpoint another run's (the stage names them)."""
    code = hashlib.sha256()
    for module_file in code_files:
        code.update(Path(module_file).read_bytes())
    return {
        "params": {
            "model": params.model.model_dump(),
            "lora": params.lora.model_dump(),
            "train": params.train.model_dump(exclude={"resume"}),
        },
        "features": _tree_digest(FEATURES_DIR),
        "code": code.hexdigest(),
        "versions": {p: importlib.metadata.version(p) for p in LIBRARIES},
    }


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0".encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* checkpoint: transformers writes ``trainer_state.json`` last."""
    complete = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(complete, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def resume_point(params: Params, fingerprint: dict) -> Path | None:
    """The checkpoint to continue from, or None once the checkpoints of other runs are gone."""
    run_file = CHECKPOINT_DIR / RUN_FILE
    latest = None
    if params.train.resume and run_file.is_file():
        try:
            same_run = json.loads(run_file.read_text()) == fingerprint
        except json.JSONDecodeError:
            same_run = False
        latest = latest_checkpoint(CHECKPOINT_DIR) if same_run else None
    if latest is None:
        if any(CHECKPOINT_DIR.glob("checkpoint-*")):
            why = "train.resume is false" if not params.train.resume else "another run made them"
            print(f"train: deleting the checkpoints in {CHECKPOINT_DIR} ({why}); starting over")
        shutil.rmtree(CHECKPOINT_DIR, ignore_errors=True)
        write_json(run_file, fingerprint)
        return None
    for partial in CHECKPOINT_DIR.glob("checkpoint-*"):  # a save cut short by a kill
        if not (partial / "trainer_state.json").is_file():
            shutil.rmtree(partial)
    return latest
