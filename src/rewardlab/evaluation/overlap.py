"""Which evaluation pairs share their prompt with a training pair, exactly or by a 13-gram.

A win rate on prompts the model was trained on measures memory, not judgement: Skywork's
preference set shared about 5,000 prompts with RewardBench and had to be reissued, and a random
split of a set that repeats prompts puts the same prompt on both sides. So evaluate counts, for
every scored set, the pairs whose prompt also occurs in the training split, and can leave them out
(``evaluate.overlap: exclude``).

*A prompt's text*: a text prompt is itself (an implicit prompt, hh-rlhf's, the extracted text
with its speaker labels); a conversation is its messages' contents in order, one per line, the
roles left out, so the same question as a text or as a one-message conversation is one prompt.
*Normalised*: casefolded, every run of whitespace one space, no space at either end.

* **Exact**: the normalised prompt equals a training prompt's. An empty prompt never counts.
* **13-gram** (GPT-3's decontamination rule, used again for Skywork's reissued set): the words
  are the normalised text without ASCII punctuation (lm-evaluation-harness's janitor, GPT-3's
  method, deletes it), split on whitespace; a prompt counts when 13 consecutive words of it occur
  consecutively in one training prompt. **A prompt shorter than 13 words is taken whole**, as
  GPT-3 treated an example shorter than its n: it counts when all its words occur, in order and
  consecutively, in one training prompt ("How do I boil an egg?" counts against the training
  prompt "Quick question: how do I boil an egg?"). The rule looks one way, as GPT-3's did: an
  evaluation prompt that merely contains a short training prompt does not count. A prompt with
  a word counts here whenever it counts as exact, so ``ngram_pairs >= exact_pairs``. A prompt of
  two to four words also counts when some training prompt happens to hold that phrase: the
  exact figure is the strict one.

Cheap at real sizes: every distinct word is hashed once (BLAKE2b to 64 bits, so a rerun in
another process flags the same pairs: Python's own ``hash`` is salted per process) and
n-grams are polynomial rolling hashes mod 2**64 computed by numpy over all prompts at once; the
evaluation set's grams go into one bitmap per length, and the training prompts' windows of each
length the set needs stream past them in chunks (``np.isin`` settles what passes). No two
prompts are ever compared; memory is the training words' hashes (8 bytes a word) and one chunk
(``rewardlab bench-overlap``). A false hit needs two 64-bit hashes to collide: about 1 in 5
million for 160,000 training prompts of 50 words against 10,000 evaluation prompts.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from rewardlab.core.errors import UserError
from rewardlab.data.splitting import prompt_key

NGRAM = 13  # GPT-3's n, and that of the decontamination of Skywork's reissued preference set
WARN_SHARE = 0.01  # evaluate prints a warning for a set with more overlapping pairs than this
CHUNK = 4096  # prompts per vector pass: small enough for the CPU cache, big enough for numpy
BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it mod 2**64 loses no bits
PUNCTUATION = string.punctuation.encode()  # what lm-evaluation-harness's janitor deletes
END = b"\xff"  # never in UTF-8: ends each prompt in a batch's one text
OverlapMode = Literal["report", "exclude"]


def stable_hash(data: bytes) -> int:
    """A 64-bit hash of ``data`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


class _WordHashes(dict):
    """Word -> :func:`stable_hash`, computed on first sight; lookups stay at C speed."""

    def __missing__(self, word: bytes) -> int:
        value = self[word] = stable_hash(word)
        return value


_WORD_HASHES = _WordHashes()
END_HASH = stable_hash(END)


normalise = prompt_key  # one rule for "the same prompt", shared with the splits


def ngram_words(normalised: str) -> list[str]:
    """The words n-grams are made of: the normalised text without punctuation, split."""
    kept = normalised.encode("utf-8", "surrogatepass").translate(None, PUNCTUATION)
    return kept.decode("utf-8", "surrogatepass").split()


def _key(normalised: str) -> int:
    return stable_hash(normalised.encode("utf-8", "surrogatepass"))


class _Words(NamedTuple):
    """Prompts as one array of word hashes and each prompt's number of words."""

    hashes: np.ndarray  # uint64, the prompts' words one after another
    lengths: np.ndarray  # int64, words per prompt


def _hash_words(normalised: Sequence[str]) -> _Words:
    """Hash every word of a batch of normalised prompts, in a few C-speed passes over the batch
    (one Python call a prompt costs twice as long): one text, the ASCII punctuation deleted by
    ``bytes.translate``, split once, each prompt ended by a byte no UTF-8 text holds."""
    if not normalised:
        return _Words(np.array([], np.uint64), np.array([], np.int64))
    data = "\n".join(normalised).encode("utf-8", "surrogatepass").translate(None, PUNCTUATION)
    tokens = (data.replace(b"\n", b" " + END + b" ") + b" " + END).split()
    hashes = np.fromiter(map(_WORD_HASHES.__getitem__, tokens), np.int64, count=len(tokens))
    ends = hashes == END_HASH
    lengths = np.diff(np.flatnonzero(ends), prepend=-1) - 1
    return _Words(hashes[~ends].view(np.uint64), lengths)


def _windows(words: _Words, n: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For k = 1..n: k, the hash of the k words from each position on (the last k - 1
    positions have no window) and whether those k words lie within one prompt."""
    size = len(words.hashes)
    left = np.repeat(np.cumsum(words.lengths), words.lengths) - np.arange(size)  # words to go
    rolling = words.hashes.copy()
    for k in range(1, n + 1):
        end = max(size - k + 1, 0)
        if k > 1:  # h(w[i:i+k]) = h(w[i:i+k-1]) * BASE + w[i+k-1], mod 2**64
            rolling[:end] *= BASE
            rolling[:end] += words.hashes[k - 1 :]
        yield k, rolling[:end], left[:end] >= k


class _Grams(NamedTuple):
    """An evaluation set's n-grams: hash, length (k), and the prompt each belongs to."""

    hashes: np.ndarray
    lengths: np.ndarray
    owners: np.ndarray


def _grams(words: _Words, n: int) -> _Grams:
    """Every n-gram of each prompt of n words or more; a shorter prompt's whole word sequence."""
    first = np.cumsum(words.lengths) - words.lengths  # each prompt's first word
    owner = np.repeat(np.arange(len(words.lengths)), words.lengths)
    parts = []
    for k, hashes, fits in _windows(words, n):
        if k < n:
            owners = np.flatnonzero(words.lengths == k)
            at = first[owners]
        else:
            at = np.flatnonzero(fits)
            owners = owner[at]
        parts.append((hashes[at], np.full(len(at), k), owners))
    return _Grams(*(np.concatenate(column) for column in zip(*parts, strict=True)))


class Overlap(NamedTuple):
    """Per pair of a set: whether its prompt overlaps training exactly, and by an n-gram."""

    exact: np.ndarray
    ngram: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        """Overlapping either way: the pairs ``evaluate.overlap: exclude`` leaves out."""
        return self.exact | self.ngram


class TrainingPrompts:
    """The training split's prompts, hashed once, to check any number of sets against."""

    def __init__(self, prompts: Iterable[Any], n: int = NGRAM) -> None:
        self.n = n
        self._chunks: list[_Words] = []
        exact: list[np.ndarray] = []
        iterator = iter(prompts)
        while batch := [normalise(p) for p in islice(iterator, CHUNK)]:
            self._chunks.append(_hash_words(batch))
            exact.append(np.fromiter((_key(t) for t in batch if t), dtype=np.int64))
        self._exact = np.unique(np.concatenate(exact)) if exact else np.array([], np.int64)

    def check(self, prompts: Sequence[Any]) -> Overlap:
        """Which of ``prompts`` overlap a training prompt (module docstring: the rules)."""
        normalised = [normalise(p) for p in prompts]
        keys = np.fromiter(map(_key, normalised), dtype=np.int64, count=len(normalised))
        exact = np.isin(keys, self._exact) & np.array([bool(t) for t in normalised], dtype=bool)
        grams = _grams(_hash_words(normalised), self.n)
        hit = np.zeros(len(grams.hashes), dtype=bool)
        for k, found in self._found(grams).items():
            of_k = grams.lengths == k
            hit[of_k] = np.isin(grams.hashes[of_k], found)
        ngram = np.zeros(len(normalised), dtype=bool)
        ngram[grams.owners[hit]] = True
        return Overlap(exact, ngram)

    def _found(self, grams: _Grams) -> dict[int, np.ndarray]:
        """Per gram length k: the training k-word windows whose hash passes the set's bitmap
        for k (a superset of the matches, which ``np.isin`` then settles exactly)."""
        bitmaps = {}
        for k in np.unique(grams.lengths).tolist():
            hashes = grams.hashes[grams.lengths == k]
            # ~3% false passes; 64 KiB at least (a few hundred short prompts: cache-resident)
            bits = int(np.clip(np.ceil(np.log2(32 * len(hashes))), 16, 24))
            table = np.zeros(1 << bits, dtype=bool)
            table[hashes >> np.uint64(64 - bits)] = True
            bitmaps[k] = (table, np.uint64(64 - bits))
        found: dict[int, list[np.ndarray]] = {k: [] for k in bitmaps}
        for chunk in self._chunks:
            for k, hashes, fits in _windows(chunk, max(bitmaps, default=0)):
                if k in bitmaps:
                    table, shift = bitmaps[k]
                    at = np.flatnonzero(table.take(hashes >> shift))
                    found[k].append(hashes[at[fits[at]]])
        return {k: np.concatenate(parts) if parts else np.array([], np.uint64)
                for k, parts in found.items()}  # fmt: skip


def overlap_block(overlap: Overlap, mode: OverlapMode) -> dict[str, Any]:
    """``overlap`` in reports/metrics.json: counts and shares of all the set's pairs, and how
    many were left out of its figures (0 unless ``evaluate.overlap: exclude``)."""
    pairs = len(overlap.exact)
    exact, ngram = int(overlap.exact.sum()), int(overlap.ngram.sum())
    return {
        "exact_pairs": exact,
        "exact_share": round(exact / pairs, 6) if pairs else 0.0,
        "ngram_pairs": ngram,
        "ngram_share": round(ngram / pairs, 6) if pairs else 0.0,
        "excluded_pairs": int(overlap.flagged.sum()) if mode == "exclude" else 0,
    }


def kept_pairs(frame: pd.DataFrame, overlap: Overlap, mode: OverlapMode) -> pd.DataFrame:
    """The per-pair frame the figures rest on: all of it, or (exclude) the clean pairs, each
    keeping its row in the set as its index (so reports/pairs gets the right content ids)."""
    return frame[~overlap.flagged] if mode == "exclude" else frame


def check_sets(
    training: Iterable[Any], sets: Mapping[str, Sequence[Any]], mode: OverlapMode
) -> dict[str, Overlap]:
    """Every set's overlap with the training prompts; exclude refuses to empty a set."""
    index = TrainingPrompts(training)
    overlaps = {name: index.check(prompts) for name, prompts in sets.items()}
    for name, overlap in overlaps.items():
        if mode == "exclude" and len(overlap.exact) and overlap.flagged.all():
            raise UserError(
                f"evaluate.overlap: exclude leaves no pairs in {name}: all {len(overlap.exact)} "
                "share their prompt with training. Set evaluate.overlap: report to score them."
            )
    return overlaps


def warning_line(name: str, overlap: Overlap, mode: OverlapMode, unit: str = "pairs") -> str | None:
    """One line for evaluate's output when more than 1% of a set's pairs (``unit``: the
    prompts of a best-of-N set) overlap training."""
    pairs, flagged = len(overlap.exact), int(overlap.flagged.sum())
    if not pairs or flagged / pairs <= WARN_SHARE:
        return None
    return (
        f"evaluate: warning: {name}: {flagged} of {pairs} {unit} ({flagged / pairs:.1%}) share "
        f"their prompt with training ({int(overlap.exact.sum())} exactly); "
        + ("left out of its figures" if mode == "exclude" else "counted in its figures")
    )
