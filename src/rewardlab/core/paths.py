"""Where each stage reads and writes: the same paths ``dvc.yaml`` declares, in one place."""

from pathlib import Path

PREPARED_DIR = Path("data/prepared")
FEATURES_DIR = Path("data/features")
MODEL_DIR = Path("models/reward_model")
CHECKPOINT_DIR = Path("models/checkpoints")
TRAIN_CURVES_DIR = Path("reports/train")
METRICS_FILE = Path("reports/metrics.json")
SCORES_FILE = Path("reports/scores.jsonl")
PAIRS_DIR = Path("reports/pairs")  # every scored set's per-pair rewards, for `rewardlab diff`
REFERENCES_DIR = Path("reports/references")  # NAME/SET.jsonl: a reference model's per-pair rewards
# Content hashes of the local inputs params name (stage fingerprint): deps of prepare / evaluate.
SOURCE_FINGERPRINT = Path("data/fingerprints/training_source.json")
EVAL_SETS_FINGERPRINT = Path("data/fingerprints/evaluation_sets.json")
REFERENCES_FINGERPRINT = Path("data/fingerprints/references.json")  # of references stage


def repo_relative(value: str) -> str:
    """A path inside the working folder (the repository) as a relative path, anything else (a Hub
    id, ``builtin``, a path elsewhere) as given: what written files record, so that they do not
    depend on where the repository was cloned."""
    path = Path(value)
    if not path.is_absolute() or not path.exists():
        return value
    here = Path.cwd().resolve()
    resolved = path.resolve()
    return resolved.relative_to(here).as_posix() if resolved.is_relative_to(here) else value
