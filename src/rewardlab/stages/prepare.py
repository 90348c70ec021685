"""Stage 1, prepare: raw preference pairs → clean, canonical, split ``data/prepared/``.

Every layout TRL reads (texts or message lists, explicit or implicit prompt; see
``data/formats.py``) leaves here as ``prompt``/``chosen``/``rejected`` with the answer alone in
chosen/rejected, plus ``category`` and ``margin`` when ``data.columns`` names them; rows of a
prompt and rated completions become pairs first (``data.pairs_from``, ``data/ratings.py``). Rows
that cannot teach a preference (ties included) are dropped and counted by reason, so
``stats.json`` says exactly what happened to the data. The held-out split is the source's own
(``data.test_split``) or a seeded share of the training split, the same on every run, and never
shares a prompt with training. Rendering into model text is featurize's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_dir
from rewardlab.core.params import params_from_argv
from rewardlab.core.paths import PREPARED_DIR
from rewardlab.data.cleaning import describe_drops
from rewardlab.data.preparation import prepare_splits
from rewardlab.data.sources.loading import load_source


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    rows, provenance = load_source(params.data)
    test_rows = None
    if params.data.test_split is not None:
        if params.data.source == "builtin":
            raise UserError("data.test_split needs a data.source with splits; builtin has none.")
        if params.data.test_split == params.data.split:
            raise UserError(
                f"data.test_split = {params.data.test_split!r} is also data.split: the test "
                "pairs would be trained on. Name the source's held-out split, or null."
            )
        test_rows = load_source(params.data, params.data.test_split)[0]
    splits, stats = prepare_splits(rows, params.prepare, params.data, test_rows)
    stats["source"] = provenance
    with atomic_dir(PREPARED_DIR) as out:
        for name, split in splits.items():
            write_jsonl(out / f"{name}.jsonl", split)
        (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    dropped = stats["dropped"].copy()
    for reason, count in stats.get("test_rows", {}).get("dropped", {}).items():
        dropped[reason] += count
    print(
        f"prepare: {_rows_in(stats)}{stats['format']['type']}, "
        f"{stats['format']['prompt']} prompt) -> "
        + ", ".join(f"{len(pairs)} {name}" for name, pairs in splits.items())
        + f" pairs; {describe_drops(dropped)}"
    )


def _rows_in(stats: dict) -> str:
    """What came in: rows, or rows of rated completions and the candidate pairs they made."""
    rated = stats.get("ratings")
    if rated is None:
        return f"{stats['rows_in']} rows ("
    return (
        f"{rated['source_rows']} rows of rated completions -> {rated['candidate_pairs']} "
        f"candidate pairs ({rated['pairs_from']}; "
    )


if __name__ == "__main__":
    run_main(main)
