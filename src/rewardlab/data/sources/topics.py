"""Topics of the built-in generator: the YAML tables of ``builtin/`` plus seeded number tasks.

Why a module of its own: the generator (``generator.py``) only knows how a good or a bad answer
is shaped; everything a topic knows -- its question's fields, the right value or sentences, and
the confident errors that belong to it alone (so that no other topic's fact leaks into its wrong
answers) -- is built here, from data a contributor can extend without touching code.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).with_name("builtin")
TIMES, DIVIDE = "\u00d7", "\u00f7"  # shown in arithmetic questions
GROUP_SIZE = 4  # topics per split unit; off-topic answers borrow within it


@dataclass(frozen=True)
class Topic:
    """One subject asked about: slot kinds fill ``{v}`` with ``right``/``wrong`` values,
    sentence kinds answer with ``right`` sentences (steps when ``steps``)."""

    id: str
    kind: str
    subject: str
    fields: tuple[tuple[str, str], ...]
    right: tuple[str, ...]
    wrong: tuple[str, ...]
    steps: bool = False
    unit: str = ""
    """What must stay on one side of a split (the id, or e.g. a word in every language)."""


@cache
def tables() -> dict:
    """All YAML tables of ``builtin/``, merged (file names are only for contributors)."""
    merged: dict = {}
    for path in sorted(DATA_DIR.glob("*.yaml")):
        content = yaml.safe_load(path.read_text())
        merged.update(content if isinstance(content, dict) else {path.stem: content})
    return merged


def _cols(line: str) -> list[str]:
    return [part.strip() for part in line.split("|")]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def fill(template: str, topic: Topic, **extra: str) -> str:
    values = {**dict(topic.fields), "s": topic.subject, "S": cap(topic.subject), **extra}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def _wrong_numbers(step: str) -> str:
    """The same step with every number confidently off by a factor of ten."""
    return re.sub(
        r"\d+", lambda m: str(int(m[0]) * 10 if int(m[0]) <= 30 else int(m[0]) // 10), step
    )


def _topic(kind, key, subject, fields, right, wrong, steps=False, unit=None) -> Topic:
    topic_id, items = f"{kind}/{key}", tuple(fields.items())
    return Topic(
        topic_id, kind, subject, items, tuple(right), tuple(wrong), steps, unit or topic_id
    )


def _table_topics() -> list[Topic]:
    t, topics = tables(), []
    for country, capital, wrong in map(_cols, t["capitals"]):
        subject = f"the capital of {country}"
        topics.append(_topic("capital", country, subject, {"country": country}, [capital], [wrong]))
    for q, right, wrong in map(_cols, t["questions"]):
        topics.append(_topic("question", q, "this question", {"q": q}, [right], [wrong]))
    for en, *words in map(_cols, t["translations"]):
        # One topic per English word: a wrong answer is the word in another language.
        for lang, word in zip(("French", "Spanish", "German", "Italian"), words, strict=True):
            others = dict.fromkeys(w for w in words if w.lower() != word.lower())
            fields = {"en": en, "En": cap(en), "lang": lang}
            subject = f"the {lang} word for '{en}'"
            topics.append(
                _topic("translate", f"{en}/{lang}", subject, fields, [word], others, unit=en)
            )
    for word, meaning, wrong in map(_cols, t["definitions"]):
        fields = {"w": word, "W": cap(word)}
        topics.append(_topic("define", word, f"the word '{word}'", fields, [meaning], [wrong]))
    for category, members, wrong in map(_cols, t["lists"]):
        good, bad = members.split(", "), wrong.split(", ")
        right = f"{good[0]}, {good[1]} and {good[2]}" if len(good) > 2 else " and ".join(good)
        mixed = f"{good[0]}, {bad[0]} and {bad[1]}"
        topics.append(_topic("list", category, category, {"c": category}, [right], [mixed]))
    for entry in t["explain"]:
        name = entry["name"]
        topics.append(_topic("explain", name, name, {"t": name}, entry["facts"], entry["wrong"]))
    for task, steps in map(_cols, t["howto"]):
        right = [s.strip() for s in steps.split(";")]
        wrong = [_wrong_numbers(s) for s in right] if re.search(r"\d", steps) else []
        topics.append(_topic("howto", task, f"how to {task}", {"task": task}, right, wrong, True))
    for q, tips in map(_cols, t["advice"]):
        right = [s.strip() for s in tips.split(";")]
        topics.append(_topic("advice", q, "your situation", {"q": q}, right, [], True))
    for blunt, polite in map(_cols, t["polite"]):
        topics.append(_topic("polite", blunt, "this sentence", {"blunt": blunt}, [polite], []))
    for word in t["letter_words"]:
        n, fields = len(word), {"w": word, "W": cap(word)}
        wrong = [str(n - 1), str(n + 1), str(n + 2)]
        topics.append(_topic("letters", word, f"the word '{word}'", fields, [str(n)], wrong))
    return topics


def _numbers(right: int, *wrong: int) -> tuple[list[str], list[str]]:
    return [str(right)], [str(w) for w in dict.fromkeys(wrong) if w != right]


def _number_topics(rng: random.Random) -> list[Topic]:
    """Arithmetic, percentages, unit conversions and sorting, made from seeded numbers."""
    topics: dict[str, Topic] = {}

    def add(topic: Topic) -> None:
        topics[topic.id] = topic

    while len(topics) < 300:
        op = rng.choice("+-" + TIMES + DIVIDE)
        if op == DIVIDE:
            b, r = rng.randint(2, 12), rng.randint(2, 20)
            a = b * r
        else:
            a, b = rng.randint(2, 99), rng.randint(2, 12 if op == TIMES else 99)
            a, b = (max(a, b), min(a, b)) if op == "-" else (a, b)
            r = a + b if op == "+" else a - b if op == "-" else a * b
        fields = {"a": str(a), "op": op, "b": str(b)}
        add(
            _topic(
                "arith",
                f"{a}{op}{b}",
                f"{a} {op} {b}",
                fields,
                *_numbers(r, r + 1, r - 10, r + 10, r * 10),
            )
        )
    while len(topics) < 380:
        p, n = rng.choice([5, 10, 20, 25, 50, 75]), rng.randint(1, 40) * 20
        r = p * n // 100
        fields = {"p": str(p), "n": str(n)}
        add(
            _topic(
                "percent", f"{p}/{n}", f"{p}% of {n}", fields, *_numbers(r, r * 10, r + p, n - r)
            )
        )
    units = [_cols(u) for u in tables()["units"]]
    while len(topics) < 530:
        one, many, target, factor = rng.choice(units)
        x, f = rng.randint(2, 15), int(factor)
        fields = {"x": str(x), "u1": many, "u2": target, "s1": one, "f": factor}
        wrong = _numbers(x * f, x * f * 10, x * f // 10 if x * f >= 100 else x * f + f, x + f)
        add(_topic("convert", f"{x} {many}", f"converting {many} to {target}", fields, *wrong))
    while len(topics) < 610:
        nums = rng.sample(range(1, 100), rng.randint(4, 5))
        ordered, i = sorted(nums), rng.randrange(len(nums) - 1)
        swapped = [*ordered[:i], ordered[i + 1], ordered[i], *ordered[i + 2 :]]
        items, show = ", ".join(map(str, nums)), lambda xs: ", ".join(map(str, xs))
        add(
            _topic(
                "sort", items, "these numbers", {"items": items}, [show(ordered)], [show(swapped)]
            )
        )
    return list(topics.values())


@cache
def all_topics(seed: int) -> tuple[Topic, ...]:
    """Every topic for a generator seed (the number-made ones depend on it)."""
    return tuple(_table_topics() + _number_topics(random.Random(f"rewardlab-topics:{seed}")))


@cache
def topic_groups(seed: int) -> dict[str, str]:
    """Topic unit → its split group: seeded groups of ``GROUP_SIZE`` units of one kind, so an
    off-topic answer (borrowed within the group) answers a question of the same kind."""
    kinds: dict[str, list[str]] = {}
    for topic in all_topics(seed):
        kinds.setdefault(topic.kind, [])
        if topic.unit not in kinds[topic.kind]:
            kinds[topic.kind].append(topic.unit)
    rng, groups = random.Random(f"rewardlab-groups:{seed}"), {}
    for kind, units in kinds.items():
        rng.shuffle(units)
        last = max(len(units) // GROUP_SIZE - 1, 0)  # a short final group joins the one before
        groups.update({u: f"{kind}-{min(i // GROUP_SIZE, last):03d}" for i, u in enumerate(units)})
    return groups
