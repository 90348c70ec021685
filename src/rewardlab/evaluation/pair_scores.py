"""Per-pair rewards of every scored set, keyed by the pair's content, for comparing runs later.

A win rate is a mean over pairs, so two runs can only be compared fairly pair by pair (a paired
test is many times more sensitive than two independent CIs side by side). Evaluate therefore
writes, for the headline split, every other held-out split and every ``evaluate.sets`` entry,
one ``reports/pairs/NAME.jsonl`` line per pair: its content id, both rewards and its category.
The folder is a cached DVC output, so ``rewardlab diff`` can read it at any commit or experiment
whose outputs are in the DVC cache, without rescoring.

The id is a hash of the pair's content (prompt, chosen, rejected), not of its position: a
reordered or partly different set (another split seed, a cleaned source) still matches the
pairs both runs scored, and only those.

A best-of-N set (``evaluation/bestofn.py``) writes one line per *prompt* instead: the id of its
prompt with the lists of correct and incorrect completions, every completion's reward, its
``num_correct`` and its ``credit`` (``prompt_scores.bestofn_records``); read back, such a line
has a ``credit`` and no chosen/rejected reward.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rewardlab.core.outputs import DIGITS

if TYPE_CHECKING:  # `rewardlab diff` reads these files without loading datasets (pyarrow)
    from datasets import Dataset

ID_CHARS = 16  # 64 bits: a collision among a million pairs of a set: odds about 1 in 37 million


def _plain(value: Any) -> Any:
    """``value`` without the None fields Arrow adds to messages when a set's rows have
    different keys ({role, content} next to {role, content, name}), so that a message's id does
    not depend on what the other rows of its set look like."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def pair_id(prompt: Any, chosen: Any, rejected: Any) -> str:
    """A pair's content id: the first 16 hex digits of sha256 over its three parts as JSON.

    Each part may be a string or a list of ``{role, content}`` messages; keys are sorted, so the
    id depends on the content only, never on its row, its set or the order of a message's keys.
    """
    text = json.dumps(
        [_plain(prompt), _plain(chosen), _plain(rejected)], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_CHARS]


def pair_records(
    pairs: Dataset | Mapping[str, Sequence[Any]], frame: pd.DataFrame
) -> Iterator[dict[str, Any]]:
    """One record per row of ``frame`` (the per-pair frame of ``pairs``): id, rewards, category.

    Rows are matched by the frame's index, which is the pair's row in ``pairs``, so a frame
    that leaves some pairs out (without resetting its index) still gets the right ids.
    """
    prompts, chosen, rejected = (list(pairs[column]) for column in ("prompt", "chosen", "rejected"))
    categories = frame.get("category")
    for row, chosen_reward, rejected_reward in zip(
        frame.index, frame["chosen_reward"], frame["rejected_reward"], strict=True
    ):
        record: dict[str, Any] = {
            "id": pair_id(prompts[row], chosen[row], rejected[row]),
            "chosen_reward": round(float(chosen_reward), DIGITS),
            "rejected_reward": round(float(rejected_reward), DIGITS),
        }
        if categories is not None and pd.notna(categories[row]):
            record["category"] = str(categories[row])
        yield record


def write_pair_scores(
    folder: Path,
    scored: Mapping[str, Dataset | Mapping[str, Sequence[Any]]],
    frames: Mapping[str, pd.DataFrame],
) -> None:
    """Write ``folder/NAME.jsonl`` for every set of ``frames`` (its pairs in ``scored``: a
    Dataset, or columns ``prompt``/``chosen``/``rejected`` as lists)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_records(folder / f"{name}.jsonl", pair_records(scored[name], frame))


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """One JSON line per record, keys sorted."""
    lines = (json.dumps(r, sort_keys=True) + "\n" for r in records)
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(lines)


def read_pair_scores(lines: Iterable[str]) -> pd.DataFrame:
    """The lines of one ``NAME.jsonl`` as a frame: id, chosen_reward, rejected_reward, category,
    and ``credit`` (a best-of-N prompt's; NaN for a pair).

    A pair that occurs twice in a set (the same content twice) is kept once: both copies are
    the same comparison, and matching by id needs ids to be unique.
    """
    records = [json.loads(line) for line in lines if line.strip()]
    frame = pd.DataFrame.from_records(
        records, columns=["id", "chosen_reward", "rejected_reward", "category", "credit"]
    )
    return frame.drop_duplicates("id", keep="first").reset_index(drop=True)
