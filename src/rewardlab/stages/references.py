"""Stage references: every ``evaluate.references`` model scored on the pairs evaluate scores.

Is the trained model better than a known one? Only a comparison on the same pairs can say, so
each reference reward model (a Hub id or a folder; ``model/references.py`` loads it and reads a
pair the way it was trained to) scores the headline split ``test``, every other held-out split
of ``data/prepared`` and every ``evaluate.sets`` entry (read and cleaned as evaluate reads them,
``evalsets.read_evaluation_set``; a best-of-N set's every completion, one line per prompt).
Nothing here touches the trained model, so a change of training params never rescores a
reference: DVC reruns this stage only when the pairs, the references' params, a local
reference's files (the fingerprint stage hashes them) or this code change. Evaluate reads the
output, ``reports/references/NAME/SET.jsonl``, and reports each reference under
``references.NAME``; with no references the folder is empty.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_dir, write_json
from rewardlab.core.params import params_from_argv
from rewardlab.core.paths import MODEL_DIR, PREPARED_DIR, REFERENCES_DIR

INDEX = "references.json"  # the names scored, [] for none


def held_out_pairs() -> dict[str, list[dict[str, Any]]]:
    """``test`` and every other held-out split prepare wrote, as its canonical rows."""
    files = {path.stem: path for path in sorted(PREPARED_DIR.glob("*.jsonl"))}
    if "test" not in files:
        raise UserError(f"{PREPARED_DIR} is missing: run `dvc repro prepare` first.")
    return {
        name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        for name, path in sorted(files.items(), key=lambda item: item[0] != "test")
        if name != "train"
    }


def main(argv: Sequence[str] | None = None) -> None:
    params = params_from_argv(argv, __doc__)
    specs = params.evaluate.references
    with atomic_dir(REFERENCES_DIR) as out:
        # An index, so the folder is never empty (DVC warns about an empty output on every run).
        write_json(out / INDEX, {"references": sorted(specs)})
        if not specs:  # the default: done in a second, with no torch imported
            print("references: none (evaluate.references is empty)")
            return
        from rewardlab.evaluation.bestofn import BestOfNSet
        from rewardlab.evaluation.evalsets import read_evaluation_sets
        from rewardlab.evaluation.reference_scores import (
            score_bestofn_sets,
            score_pair_sets,
            write_reference,
        )
        from rewardlab.model.references import load_reference, param_names

        sets, bestofn = held_out_pairs(), {}
        for name, read in read_evaluation_sets(params.evaluate.sets, reserved=sets).items():
            if read.bestofn:  # scored from its texts: no trained model's token ids needed
                bestofn[name] = BestOfNSet(read.rows, [], read.format)
            else:
                sets[name] = read.rows
        pairs = sum(len(rows) for rows in sets.values())
        prompts = sum(len(s.rows) for s in bestofn.values())
        counted = f"{pairs} pairs in {len(sets)} sets" + (
            f", {prompts} best-of-N prompts in {len(bestofn)} sets" if bestofn else ""
        )
        for name, spec in specs.items():
            if Path(spec.model).expanduser().resolve() == MODEL_DIR.resolve():
                raise UserError(
                    f"evaluate.references.{name}.model = {spec.model!r} is the model this "
                    "pipeline trains; `rewardlab export` it to a folder of its own and name that, "
                    "to compare later runs against it."
                )
            reference = load_reference(spec, param_names(f"evaluate.references.{name}"))
            frames = score_pair_sets(reference, sets)
            ranked = score_bestofn_sets(reference, bestofn)
            write_reference(out / name, reference, sets, frames, bestofn, ranked)
            print(
                f"references: {name} ({spec.model}, input {reference.input}, <= "
                f"{reference.max_length} tokens): {counted}"
            )
            del reference
            gc.collect()  # one reference in memory at a time


if __name__ == "__main__":
    run_main(main)
